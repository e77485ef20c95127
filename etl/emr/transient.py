"""Run a transient cluster to the end, like a scheduler would: RunJobFlow, then watch it until its
steps are done, and never leave it running.

Watching polls DescribeCluster and ListSteps and reports each state change of the cluster and of
its steps. The run ends well when every step COMPLETED: the cluster then terminates itself
(KeepJobFlowAliveWhenNoSteps is false). It ends badly, as one error line, when a step ends FAILED,
CANCELLED or INTERRUPTED (once no step is pending or running any more: an independent step still
running is let finish), or when the cluster ends before its steps completed (a bootstrap action that
failed: EMR's state change reason). Whenever the run ends badly with the cluster still up -- a failed
step with CANCEL_AND_WAIT leaves it WAITING --, on the timeout, on Ctrl-C and on any other error
while watching, the cluster is terminated (TerminateJobFlows) and a line says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from etl.emr.aws import aws_errors
from etl.emr.submit import DEFAULT_POLL_SECONDS, failure_reason
from etl.errors import EtlError
from etl.secrets import mask

DEFAULT_TIMEOUT_MINUTES = 12 * 60  # a night's run that is not done after 12 hours will not be done
ENDED = ("TERMINATED", "TERMINATED_WITH_ERRORS")  # the cluster's states after which nothing changes
ACTIVE = ("PENDING", "CANCEL_PENDING", "RUNNING")  # a step's states before it ends
FAILED = ("FAILED", "INTERRUPTED")


class RunFailed(EtlError):
    """The run ended without every step COMPLETED. `alive`: the cluster may still be up (to terminate);
    `why`: the few words the termination line gives."""

    def __init__(self, message: str, why: str, alive: bool) -> None:
        super().__init__(mask(" ".join(message.split())))
        self.why, self.alive = why, alive


def run_transient(
    client: Any,
    request: dict[str, Any],
    labels: Mapping[str, str],
    *,
    announce: Callable[[str], None],
    say: Callable[[str], None],
    poll_seconds: float = DEFAULT_POLL_SECONDS,
    timeout_minutes: float = DEFAULT_TIMEOUT_MINUTES,
    sleep: Callable[[float], None] | None = None,
    clock: Callable[[], float] | None = None,
) -> str:
    """Create the cluster of `request` (RunJobFlow), `announce` its id, watch it to the end; its id when
    every step COMPLETED. `labels`: each step's name -> what the progress lines call it, in the steps'
    order. Raises RunFailed (or what interrupted the watch) after terminating the cluster if needed."""
    with aws_errors("EMR"):
        cluster_id = str(client.run_job_flow(**request)["JobFlowId"])
    try:
        announce(cluster_id)
        watch(client, cluster_id, labels, say=say, poll_seconds=poll_seconds, timeout_minutes=timeout_minutes, sleep=sleep, clock=clock)
    except RunFailed as failed:
        if failed.alive:
            terminate(client, cluster_id, failed.why, say)
        raise
    except KeyboardInterrupt:
        terminate(client, cluster_id, "interrupted", say)
        raise
    except BaseException:  # an AWS error while polling, a bug: the cluster must not run on unwatched
        terminate(client, cluster_id, "watching it failed", say)
        raise
    return cluster_id


def watch(
    client: Any,
    cluster_id: str,
    labels: Mapping[str, str],
    *,
    say: Callable[[str], None],
    poll_seconds: float = DEFAULT_POLL_SECONDS,
    timeout_minutes: float = DEFAULT_TIMEOUT_MINUTES,
    sleep: Callable[[float], None] | None = None,
    clock: Callable[[], float] | None = None,
) -> None:
    """Poll until every step COMPLETED (returns) or the run is over otherwise (raises RunFailed)."""
    sleep = sleep or time.sleep
    clock = clock or time.monotonic
    deadline = clock() + timeout_minutes * 60
    seen: dict[str, str] = {}
    while True:
        cluster, steps = _look(client, cluster_id, labels)
        state = cluster["Status"]["State"]
        if seen.get(cluster_id) != state:
            say(f"cluster {cluster_id}: {state}")
            seen[cluster_id] = state
        for step in steps:
            if seen.get(step["Id"]) != step["Status"]["State"]:
                say(f"step {step['Id']} ({_label(step, labels)}): {step['Status']['State']}")
                seen[step["Id"]] = step["Status"]["State"]
        if steps and all(step["Status"]["State"] == "COMPLETED" for step in steps):
            say(f"cluster {cluster_id}: every step COMPLETED (the cluster terminates itself)")
            return
        ended = state in ENDED
        if ended or (steps and not any(step["Status"]["State"] in ACTIVE for step in steps)):
            raise _outcome(cluster, steps, labels, ended)
        if clock() >= deadline:
            raise RunFailed(
                f"cluster {cluster_id}: not done after {timeout_minutes:g} min (--timeout-minutes){_not_completed(steps, labels)}",
                f"not done after {timeout_minutes:g} min",
                alive=True,
            )
        sleep(poll_seconds)


def terminate(client: Any, cluster_id: str, why: str, say: Callable[[str], None]) -> None:
    """TerminateJobFlows, and a line saying so; when that fails, a line saying what to run instead
    (the error that ended the run is the one the command reports)."""
    try:
        with aws_errors("EMR"):
            client.terminate_job_flows(JobFlowIds=[cluster_id])
    except Exception as error:
        say(mask(f"could not terminate cluster {cluster_id} ({error}): run aws emr terminate-clusters --cluster-ids {cluster_id}"))
        return
    say(f"terminated cluster {cluster_id}: {why}")


def _look(client: Any, cluster_id: str, labels: Mapping[str, str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """DescribeCluster's Cluster, and ListSteps' steps (every page) in the order of `labels` (EMR lists the
    newest first), steps it does not name (added by hand) after them."""
    with aws_errors("EMR"):
        cluster = client.describe_cluster(ClusterId=cluster_id)["Cluster"]
        steps: list[dict[str, Any]] = []
        marker: dict[str, str] = {}
        while True:
            page = client.list_steps(ClusterId=cluster_id, **marker)
            steps.extend(page.get("Steps", []))
            if not page.get("Marker"):
                break
            marker = {"Marker": page["Marker"]}
    order = {name: position for position, name in enumerate(labels)}
    steps.reverse()  # oldest first, then by the plan's order
    steps.sort(key=lambda step: order.get(step.get("Name", ""), len(order)))
    return cluster, steps


def _outcome(cluster: dict[str, Any], steps: list[dict[str, Any]], labels: Mapping[str, str], ended: bool) -> RunFailed:
    """Why the run is over without every step COMPLETED: the first step that failed (its reason is the
    most precise), else the cluster that ended, else the first step cancelled."""
    failed = [step for step in steps if step["Status"]["State"] in FAILED]
    cancelled = [step for step in steps if step["Status"]["State"] == "CANCELLED"]
    if failed or (cancelled and not ended):
        first = (failed or cancelled)[0]
        others = [step for step in steps if step is not first]
        return RunFailed(
            failure_reason(first) + _not_completed(others, labels),
            f"step {first['Id']} {first['Status']['State']}",
            alive=not ended,
        )
    status = cluster["Status"]
    reason = status.get("StateChangeReason") or {}
    because = ": ".join(part for part in (reason.get("Code"), reason.get("Message")) if part) or "EMR gave no reason"
    return RunFailed(
        f"cluster {cluster['Id']} {status['State']} before its steps completed: {because}{_not_completed(steps, labels)}",
        f"{status['State']}",
        alive=False,
    )


def _not_completed(steps: list[dict[str, Any]], labels: Mapping[str, str]) -> str:
    """'; not completed: s-... (job day) STATE, ...' for the steps that did not complete; '' if none."""
    left = [f"{step['Id']} ({_label(step, labels)}) {step['Status']['State']}" for step in steps if step["Status"]["State"] != "COMPLETED"]
    return f"; not completed: {', '.join(left)}" if left else ""


def _label(step: dict[str, Any], labels: Mapping[str, str]) -> str:
    name = str(step.get("Name", "?"))
    return labels.get(name, name)
