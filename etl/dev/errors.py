"""Why a local stand-in service cannot run here."""

from __future__ import annotations


class ServiceUnavailable(RuntimeError):
    """A program or jar a local service needs is not installed; the message says how to get it."""
