"""Add a job's step to a running EMR cluster, and optionally wait for it like a scheduler would.

Waiting polls DescribeStep and reports each state change; a step that ends FAILED, CANCELLED or
INTERRUPTED becomes one error line with EMR's own reason (Step.Status.FailureDetails: reason,
message and the log file holding the driver's output), so a scheduler's log says what went wrong.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from etl.emr.aws import aws_errors
from etl.errors import EtlError
from etl.secrets import mask

TERMINAL_STATES = ("COMPLETED", "CANCELLED", "FAILED", "INTERRUPTED")
DEFAULT_POLL_SECONDS = 30.0


class StepFailed(EtlError):
    """The step ended in a state other than COMPLETED."""


def add_step(client: Any, cluster_id: str, step: dict[str, Any]) -> str:
    """AddJobFlowSteps with one step; its id (s-...)."""
    with aws_errors("EMR"):
        response = client.add_job_flow_steps(JobFlowId=cluster_id, Steps=[step])
    return str(response["StepIds"][0])


def wait_for_step(
    client: Any,
    cluster_id: str,
    step_id: str,
    *,
    poll_seconds: float = DEFAULT_POLL_SECONDS,
    say: Callable[[str], None] = print,
    sleep: Callable[[float], None] | None = None,
) -> None:
    """Poll until the step ends; `say` each state it reaches. Returns on COMPLETED, raises StepFailed otherwise."""
    sleep = sleep or time.sleep
    seen = None
    while True:
        with aws_errors("EMR"):
            step = client.describe_step(ClusterId=cluster_id, StepId=step_id)["Step"]
        state = step["Status"]["State"]
        if state != seen:
            say(f"step {step_id}: {state}")
            seen = state
        if state == "COMPLETED":
            return
        if state in TERMINAL_STATES:
            raise StepFailed(failure_reason(step))
        sleep(poll_seconds)


def failure_reason(step: dict[str, Any]) -> str:
    """One line from a DescribeStep Step: '<id> (<name>) FAILED: <reason>: <message>; log: <file>'."""
    status = step.get("Status", {})
    details = status.get("FailureDetails") or {}
    parts = [details.get("Reason"), details.get("Message")]
    if not any(parts):  # CANCELLED and INTERRUPTED say why in the state change reason
        parts = [status.get("StateChangeReason", {}).get("Message")]
    reason = ": ".join(part for part in parts if part) or "EMR gave no reason"
    text = f"step {step.get('Id', '?')} ({step.get('Name', '?')}) {status.get('State', '?')}: {reason}"
    if details.get("LogFile"):
        text += f"; log: {details['LogFile']}"
    return mask(" ".join(text.split()))
