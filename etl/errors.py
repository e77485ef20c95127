"""The project's exceptions, and any error as the one line the CLI prints. Each message is one line a
person can act on at 3 a.m."""

from __future__ import annotations

from etl.secrets import mask
from etl.spark_internals import innermost_java_cause


class EtlError(Exception):
    """Base of every error the framework raises on purpose; the CLI prints its message as is."""


class ConfigError(EtlError):
    """Configuration that cannot be loaded: names the file and the key."""


class SourceError(EtlError):
    """An input that is missing, empty when it must not be, or unreadable."""


class ValidationFailed(EtlError):
    """An expectation of severity `error` failed: nothing was written."""


class RowAccountingFailed(EtlError):
    """Rows read != rows loaded + quarantined + dropped by named rules: nothing was written."""


class VolumeAnomaly(EtlError):
    """A source far smaller or larger than in the job's earlier runs: nothing was written."""


class JobLocked(EtlError):
    """Another run of the job holds its lock."""


class MetastoreInUse(EtlError):
    """Another etl command holds the env's embedded (Derby) metastore, which admits one process."""


class LoadError(EtlError):
    """A write that cannot be done as configured (schema mismatch, bad mode for the format)."""


class TableFormatUnavailable(EtlError):
    """The table format's runtime (jars) is not on the Spark classpath."""


class JobNotFound(EtlError):
    """No job of that name in conf/jobs."""


# The start of a message the project raises from inside a Spark query (raise_error): the one-line error
# shows what follows it, without the JVM exception's class or Spark's error-class decoration.
RAISED_IN_QUERY = "[etl] "


def one_line(error: BaseException) -> str:
    """An error as one line: our own messages as they are; for a JVM error its innermost cause
    (where Spark says what was wrong with the data), without the stack trace."""
    java = innermost_java_cause(error)
    if java is not None:
        message = " ".join(str(java.getMessage()).split())
        ours = raised_in_query(error)
        if ours is not None:
            return mask(ours)
        kind = java.getClass().getSimpleName()
        hint = f" ({_HINTS[kind]})" if kind in _HINTS else ""
        return mask(f"{kind}: {message[:1000]}{hint}")
    text = str(error).strip() or type(error).__name__
    first = text.splitlines()[0].strip()
    return mask(first if isinstance(error, EtlError) else f"{type(error).__name__}: {first}")


# What to do about a JVM error whose message does not say it.
_HINTS = {
    "ChecksumException": "the file is not what the .crc file beside it says; if it was changed on purpose, delete that .crc file",
}


def raised_in_query(error: BaseException) -> str | None:
    """The project's own message when a Spark query raised it (a malformed line under `malformed: fail`, a
    CSV header that does not match), else None."""
    java = innermost_java_cause(error)
    message = " ".join(str(java.getMessage()).split()) if java is not None else ""
    if RAISED_IN_QUERY not in message:
        return None
    return message.split(RAISED_IN_QUERY, 1)[1].split(" SQLSTATE: ")[0][:1000]
