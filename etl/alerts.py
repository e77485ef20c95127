"""Failure alerts: one message on the env's SNS topic when a run fails (alerts.sns_topic_arn).

`notify_failure` never raises: an alert that cannot be sent (no credentials, no such topic, the service
unreachable) is logged as one line, and the run's own error stays the one the command reports. Nothing
secret goes out: the text passes through etl.secrets.mask (the values of secret environment variables)
and `redact` (passwords in URIs, secret-looking name=value pairs, AWS keys).

SNS is reached like the other AWS services: AWS_ENDPOINT_URL_SNS or AWS_ENDPOINT_URL (a local
server), else AWS, in the topic's region; credentials from the SDK's own lookup.
"""

from __future__ import annotations

import logging
import re
from datetime import date
from typing import Any

from etl.config.models import EnvConfig
from etl.context import DateWindow
from etl.secrets import MASK, mask

log = logging.getLogger("etl.alerts")

SUBJECT_LIMIT = 100  # SNS's limit: printable ASCII, one line, at most 100 characters

_URI_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^\s/:@]*):(?P<password>[^\s/@]+)@")
_SECRET_PAIR = re.compile(
    r"(?P<name>\b[A-Za-z0-9_.-]*(?:secret|password|passwd|pwd|token|access_key|credentials?)(?:[_.-]?key)?)"
    r"(?P<between>[\"']?\s*[=:]\s*[\"']?)(?P<value>[^\s\"',;&]+)",
    re.IGNORECASE,
)
_ACCESS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")
# 40 characters of base64 with upper and lower case and a digit or / or +: the shape of an AWS secret key
# (a hex digest, all lower case, is not one).
_SECRET_KEY = re.compile(
    r"(?<![A-Za-z0-9/+=])(?=[A-Za-z0-9/+]*[A-Z])(?=[A-Za-z0-9/+]*[a-z])(?=[A-Za-z0-9/+]*[0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"
)


def redact(text: str) -> str:
    """`mask`, then what looks secret without being in the environment: the password of a URI
    (scheme://user:PASSWORD@host), the value of a secret-looking name (password=..., "token": "..."), AWS keys."""
    text = mask(text)
    text = _URI_PASSWORD.sub(lambda found: f"{found['head']}:{MASK}@", text)
    text = _SECRET_PAIR.sub(lambda found: f"{found['name']}{found['between']}{MASK}", text)
    text = _ACCESS_KEY_ID.sub(MASK, text)
    return _SECRET_KEY.sub(MASK, text)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def subject(what: str, run_date: date | DateWindow | str) -> str:
    """'etl: <what> <run date> failed', as SNS takes a subject: printable ASCII, at most 100 characters."""
    text = redact(_one_line(f"etl: {what} {run_date} failed"))
    text = "".join(char if " " <= char <= "~" else "?" for char in text)
    return text if len(text) <= SUBJECT_LIMIT else text[: SUBJECT_LIMIT - 3] + "..."


def message(
    env: EnvConfig, *, what: str, run_date: date | DateWindow | str, reason: str, run_id: str | None, report_uri: str | None
) -> str:
    lines = [
        f"etl: {what} failed for {run_date} (env {env.name})",
        "",
        f"job or pipeline: {what}",
        f"run date: {run_date}",
        f"env: {env.name}",
        f"reason: {_one_line(reason)}",
        f"run id: {run_id or '-'}",
        f"report: {report_uri or '-'}",
    ]
    return redact("\n".join(lines))


def notify_failure(
    env: EnvConfig,
    *,
    what: str,
    run_date: date | DateWindow | str,
    reason: str,
    run_id: str | None,
    report_uri: str | None,
) -> None:
    """Publish one message about a failed run to the env's alerts topic; nothing when the env has none. Never raises."""
    settings = env.alerts
    if settings is None:
        return
    try:
        client = _sns_client(settings.topic_region)
        client.publish(
            TopicArn=settings.sns_topic_arn,
            Subject=subject(what, run_date),
            Message=message(env, what=what, run_date=run_date, reason=reason, run_id=run_id, report_uri=report_uri),
        )
    except Exception as error:  # an alert must never replace the run's own error
        log.warning("alert not sent to %s: %s", settings.sns_topic_arn, redact(_one_line(_reason(error))))


def _sns_client(region: str) -> Any:
    import boto3
    from botocore.config import Config

    # A run that failed should not wait long for its alert: a few short tries, then the one log line.
    config = Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 3, "mode": "standard"})
    return boto3.client("sns", region_name=region, config=config)  # the SDK reads AWS_ENDPOINT_URL_SNS / AWS_ENDPOINT_URL


def _reason(error: Exception) -> str:
    response = getattr(error, "response", None)
    if isinstance(response, dict) and response.get("Error"):
        details = response["Error"]
        return f"{getattr(error, 'operation_name', 'call')}: {details.get('Code', 'error')}: {details.get('Message', '')}".strip(": ")
    return f"{type(error).__name__}: {error}"
