"""etl cluster run: the planned transient cluster created, watched to the end and never left running.
Against moto's EMR API (which creates the cluster but never runs a step) and botocore's Stubber
(scripted answers, validated against the API's model) for the ends moto cannot reach. The clock and
the pauses are the test's own: nothing here waits."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto.core import DEFAULT_ACCOUNT_ID
from moto.emr.models import emr_backends

from etl.cli import main

REPO_CONF = Path(__file__).resolve().parents[2] / "conf"
ARTIFACTS = "s3://acme-etl/artifacts/0.1.0/"
REGION = "us-east-1"
CLUSTER = "j-2AXXXXXXGAPLF"
SALES, CLICKS = "s-1SALES000000A", "s-2CLICKS00000B"
SALES_NAME, CLICKS_NAME = "etl run sales_warehouse 1992-01-02 --env emr", "etl run clickstream_sessions 1992-01-02 --env emr"
NIGHT = ["nightly", "--run-date", "1992-01-02", "--artifacts", ARTIFACTS]
NIGHT_CONF = REPO_CONF  # replaced by two_independent_jobs


@pytest.fixture(scope="module", autouse=True)
def two_independent_jobs(tmp_path_factory: pytest.TempPathFactory) -> None:
    """nightly with its two loads only (daily_kpis, which needs both, left out): independent steps, each
    ActionOnFailure CONTINUE, so that one goes on after the other failed."""
    global NIGHT_CONF
    NIGHT_CONF = tmp_path_factory.mktemp("two-jobs") / "conf"
    shutil.copytree(REPO_CONF, NIGHT_CONF)
    (NIGHT_CONF / "pipelines" / "nightly.yaml").write_text(
        "description: two loads\njobs:\n  sales_warehouse: {}\n  clickstream_sessions: {}\n"
    )


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake credentials, no profile or endpoint of the machine's own; the bucket conf/env/emr.yaml needs."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_EMR", "AWS_SESSION_TOKEN", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "etl-test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("ETL_BUCKET", "acme-lake")
    monkeypatch.delenv("ETL_PREFIX", raising=False)
    monkeypatch.delenv("ETL_TABLE_FORMAT", raising=False)


class FakeTime:
    """etl.emr.transient's clock: sleeping moves it on at once; `on_sleep` (the number of the pause) may
    change the world, or raise."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.pauses: list[float] = []
        self.on_sleep: Callable[[int], None] = lambda number: None

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds
        self.on_sleep(len(self.pauses))


def interrupt(number: int) -> None:
    raise KeyboardInterrupt  # Ctrl-C, during a pause


@pytest.fixture
def fake_time(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    fake = FakeTime()
    monkeypatch.setattr("etl.emr.transient.time", fake)
    return fake


def planned(capsys: pytest.CaptureFixture[str], *args: str, conf: Path | None = None) -> dict[str, Any]:
    assert main(["--conf-dir", str(conf or NIGHT_CONF), "cluster", "plan", *args]) == 0, capsys.readouterr().err
    request: dict[str, Any] = json.loads(capsys.readouterr().out)
    return request


def run(*args: str, conf: Path | None = None) -> int:
    return main(["--conf-dir", str(conf or NIGHT_CONF), "cluster", "run", *args])


# --- against moto ----------------------------------------------------------------------------------


def test_run_creates_the_planned_cluster_and_terminates_it_at_the_timeout(
    emr_endpoint: str, capsys: pytest.CaptureFixture[str], fake_time: FakeTime
) -> None:
    """moto never runs a step nor ends a cluster: the run reaches its timeout, as a night whose steps hang would."""
    request = planned(capsys, *NIGHT)
    code = run(*NIGHT, "--endpoint-url", emr_endpoint, "--region", REGION, "--timeout-minutes", "1", "--poll-seconds", "25")
    out, err = capsys.readouterr()
    assert code == 1
    cluster_id = out.strip()
    assert out == f"{cluster_id}\n" and cluster_id.startswith("j-")

    emr = boto3.client("emr", region_name=REGION, endpoint_url=emr_endpoint)
    cluster = emr.describe_cluster(ClusterId=cluster_id)["Cluster"]
    assert (cluster["Name"], cluster["ReleaseLabel"], cluster["LogUri"], cluster["AutoTerminate"]) == (
        "etl nightly 1992-01-02",
        "emr-7.13.0",
        "s3://acme-lake/etl/emr-logs/",
        True,
    )
    assert cluster["Tags"] == request["Tags"]
    assert cluster["Status"]["State"] in ("TERMINATING", "TERMINATED")
    # the steps in the request's order (moto's record: ListSteps gives the newest first, to the millisecond)
    in_order = [step.id for step in emr_backends[DEFAULT_ACCOUNT_ID][REGION].clusters[cluster_id].steps]
    listed = {step["Id"]: step for step in emr.list_steps(ClusterId=cluster_id)["Steps"]}
    assert [(listed[i]["Name"], listed[i]["ActionOnFailure"], listed[i]["Config"]["Args"]) for i in in_order] == [
        (step["Name"], step["ActionOnFailure"], step["HadoopJarStep"]["Args"]) for step in request["Steps"]
    ]
    sales, clicks = in_order

    assert err.splitlines() == [
        f"cluster {cluster_id}: WAITING",
        f"step {sales} (sales_warehouse 1992-01-02): RUNNING",
        f"step {clicks} (clickstream_sessions 1992-01-02): PENDING",
        f"terminated cluster {cluster_id}: not done after 1 min",
        f"etl: error: cluster {cluster_id}: not done after 1 min (--timeout-minutes); not completed: "
        f"{sales} (sales_warehouse 1992-01-02) RUNNING, {clicks} (clickstream_sessions 1992-01-02) PENDING",
    ]
    assert fake_time.pauses == [25, 25, 25]  # looks at 0, 25, 50 and 75 seconds: past the minute


# --- with scripted answers ---------------------------------------------------------------------------


@pytest.fixture
def stubber(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Iterator[Stubber]:
    """A Stubber whose first expected call is RunJobFlow with exactly what `etl cluster plan` prints."""
    request = planned(capsys, *NIGHT)
    client = boto3.client("emr", region_name=REGION)
    monkeypatch.setattr("etl.emr.aws.emr_client", lambda env, region=None, endpoint=None: client)
    stub = Stubber(client)
    stub.add_response("run_job_flow", {"JobFlowId": CLUSTER}, request)
    with stub:
        yield stub


def look(stub: Stubber, cluster: str, *steps: tuple[str, str, str], **status: Any) -> None:
    """One poll: DescribeCluster in state `cluster`, ListSteps with (id, name, state)... as EMR lists them,
    the newest first."""
    stub.add_response(
        "describe_cluster",
        {"Cluster": {"Id": CLUSTER, "Name": "etl nightly 1992-01-02", "Status": {"State": cluster, **status}}},
        {"ClusterId": CLUSTER},
    )
    summaries = [{"Id": step_id, "Name": name, "Status": {"State": state}} for step_id, name, state in steps]
    stub.add_response("list_steps", {"Steps": summaries[::-1]}, {"ClusterId": CLUSTER})


def both(sales: str, clicks: str) -> tuple[tuple[str, str, str], tuple[str, str, str]]:
    return (SALES, SALES_NAME, sales), (CLICKS, CLICKS_NAME, clicks)


def expect_termination(stub: Stubber) -> None:
    stub.add_response("terminate_job_flows", {}, {"JobFlowIds": [CLUSTER]})


def test_every_step_completed_is_exit_0_and_each_change_is_one_line(
    stubber: Stubber, fake_time: FakeTime, capsys: pytest.CaptureFixture[str]
) -> None:
    look(stubber, "STARTING", *both("PENDING", "PENDING"))
    look(stubber, "BOOTSTRAPPING", *both("PENDING", "PENDING"))
    look(stubber, "RUNNING", *both("RUNNING", "PENDING"))
    look(stubber, "RUNNING", *both("RUNNING", "PENDING"))
    look(stubber, "RUNNING", *both("COMPLETED", "RUNNING"))
    look(stubber, "RUNNING", *both("COMPLETED", "COMPLETED"))
    assert run(*NIGHT) == 0
    stubber.assert_no_pending_responses()  # and no TerminateJobFlows: the cluster ends itself
    out, err = capsys.readouterr()
    assert out == f"{CLUSTER}\n"
    assert err.splitlines() == [
        f"cluster {CLUSTER}: STARTING",
        f"step {SALES} (sales_warehouse 1992-01-02): PENDING",
        f"step {CLICKS} (clickstream_sessions 1992-01-02): PENDING",
        f"cluster {CLUSTER}: BOOTSTRAPPING",
        f"cluster {CLUSTER}: RUNNING",
        f"step {SALES} (sales_warehouse 1992-01-02): RUNNING",
        f"step {SALES} (sales_warehouse 1992-01-02): COMPLETED",
        f"step {CLICKS} (clickstream_sessions 1992-01-02): RUNNING",
        f"step {CLICKS} (clickstream_sessions 1992-01-02): COMPLETED",
        f"cluster {CLUSTER}: every step COMPLETED (the cluster terminates itself)",
    ]
    assert fake_time.pauses == [30.0] * 5


FAILURE = {
    "Reason": "Unknown Error.",
    "Message": "etl: error: source orders: no input for 1 of the 1 day(s) of 1992-01-02",
    "LogFile": f"s3://acme-lake/etl/emr-logs/{CLUSTER}/steps/{SALES}/stderr.gz",
}
FAILED_LINE = (
    f"etl: error: step {SALES} ({SALES_NAME}) FAILED: Unknown Error.: etl: error: source orders: no input for 1 of the 1 day(s) of "
    f"1992-01-02; log: s3://acme-lake/etl/emr-logs/{CLUSTER}/steps/{SALES}/stderr.gz"
)


def test_a_failed_step_lets_the_independent_one_finish_then_fails_with_emrs_reason(
    stubber: Stubber, fake_time: FakeTime, capsys: pytest.CaptureFixture[str]
) -> None:
    """nightly's jobs are independent (ActionOnFailure CONTINUE): the second runs on after the first failed."""
    look(stubber, "RUNNING", *both("RUNNING", "PENDING"))
    failed = (SALES, SALES_NAME, "FAILED")
    look(stubber, "RUNNING", failed, (CLICKS, CLICKS_NAME, "RUNNING"))
    stubber.add_response("describe_cluster", {"Cluster": {"Id": CLUSTER, "Status": {"State": "RUNNING"}}}, {"ClusterId": CLUSTER})
    stubber.add_response(
        "list_steps",
        {
            "Steps": [
                {"Id": CLICKS, "Name": CLICKS_NAME, "Status": {"State": "COMPLETED"}},
                {"Id": SALES, "Name": SALES_NAME, "Status": {"State": "FAILED", "FailureDetails": FAILURE}},
            ]
        },
        {"ClusterId": CLUSTER},
    )
    expect_termination(stubber)
    assert run(*NIGHT) == 1
    stubber.assert_no_pending_responses()
    out, err = capsys.readouterr()
    assert out == f"{CLUSTER}\n"
    assert err.splitlines() == [
        f"cluster {CLUSTER}: RUNNING",
        f"step {SALES} (sales_warehouse 1992-01-02): RUNNING",
        f"step {CLICKS} (clickstream_sessions 1992-01-02): PENDING",
        f"step {SALES} (sales_warehouse 1992-01-02): FAILED",
        f"step {CLICKS} (clickstream_sessions 1992-01-02): RUNNING",
        f"step {CLICKS} (clickstream_sessions 1992-01-02): COMPLETED",
        f"terminated cluster {CLUSTER}: step {SALES} FAILED",
        FAILED_LINE,
    ]


def test_cancel_and_wait_leaves_the_cluster_waiting_so_it_is_terminated(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fake_time: FakeTime, capsys: pytest.CaptureFixture[str]
) -> None:
    """A job others depend on fails: EMR cancels the later steps and the cluster WAITs (for ever, but for
    its idle timeout): the run ends there, names the cancelled step, and terminates the cluster."""
    conf = tmp_path / "conf"
    shutil.copytree(REPO_CONF, conf)
    (conf / "pipelines" / "chain.yaml").write_text(
        "description: c\njobs:\n  clickstream_sessions: {depends_on: [sales_warehouse]}\n  sales_warehouse: {}\n"
    )
    chain = ["chain", "--run-date", "1992-01-02", "--artifacts", ARTIFACTS]
    request = planned(capsys, *chain, conf=conf)
    assert [step["ActionOnFailure"] for step in request["Steps"]] == ["CANCEL_AND_WAIT", "CONTINUE"]
    client = boto3.client("emr", region_name=REGION)
    monkeypatch.setattr("etl.emr.aws.emr_client", lambda env, region=None, endpoint=None: client)
    with Stubber(client) as stub:
        stub.add_response("run_job_flow", {"JobFlowId": CLUSTER}, request)
        look(stub, "RUNNING", *both("RUNNING", "PENDING"))
        stub.add_response("describe_cluster", {"Cluster": {"Id": CLUSTER, "Status": {"State": "WAITING"}}}, {"ClusterId": CLUSTER})
        cancelled = {"State": "CANCELLED", "StateChangeReason": {"Message": "Cancelled as an earlier step failed"}}
        failed = {"State": "FAILED", "FailureDetails": FAILURE}
        steps = [{"Id": CLICKS, "Name": CLICKS_NAME, "Status": cancelled}, {"Id": SALES, "Name": SALES_NAME, "Status": failed}]
        stub.add_response("list_steps", {"Steps": steps}, {"ClusterId": CLUSTER})
        expect_termination(stub)
        assert run(*chain, conf=conf) == 1
        stub.assert_no_pending_responses()
    assert capsys.readouterr().err.splitlines() == [
        f"cluster {CLUSTER}: RUNNING",
        f"step {SALES} (sales_warehouse 1992-01-02): RUNNING",
        f"step {CLICKS} (clickstream_sessions 1992-01-02): PENDING",
        f"cluster {CLUSTER}: WAITING",
        f"step {SALES} (sales_warehouse 1992-01-02): FAILED",
        f"step {CLICKS} (clickstream_sessions 1992-01-02): CANCELLED",
        f"terminated cluster {CLUSTER}: step {SALES} FAILED",
        f"{FAILED_LINE}; not completed: {CLICKS} (clickstream_sessions 1992-01-02) CANCELLED",
    ]


@pytest.mark.parametrize(
    ("state", "reason", "line"),
    [
        (
            "TERMINATED_WITH_ERRORS",
            {"Code": "BOOTSTRAP_FAILURE", "Message": "On the master instance (i-0f1e2d3c4b5a69788), bootstrap action 1 returned a non-zero return code"},
            f"etl: error: cluster {CLUSTER} TERMINATED_WITH_ERRORS before its steps completed: BOOTSTRAP_FAILURE: On the master instance "
            f"(i-0f1e2d3c4b5a69788), bootstrap action 1 returned a non-zero return code; not completed: "
            f"{SALES} (sales_warehouse 1992-01-02) CANCELLED, {CLICKS} (clickstream_sessions 1992-01-02) CANCELLED",
        ),
        (
            "TERMINATED",
            {"Code": "USER_REQUEST", "Message": "Terminated by user request"},
            f"etl: error: cluster {CLUSTER} TERMINATED before its steps completed: USER_REQUEST: Terminated by user request; "
            f"not completed: {SALES} (sales_warehouse 1992-01-02) CANCELLED, {CLICKS} (clickstream_sessions 1992-01-02) CANCELLED",
        ),
    ],
    ids=["bootstrap-failure", "terminated-by-hand"],
)  # fmt: skip
def test_a_cluster_that_ends_before_its_steps_is_one_line_with_emrs_reason(
    stubber: Stubber, fake_time: FakeTime, capsys: pytest.CaptureFixture[str], state: str, reason: dict[str, str], line: str
) -> None:
    look(stubber, "STARTING", *both("PENDING", "PENDING"))
    look(stubber, "BOOTSTRAPPING", *both("PENDING", "PENDING"))
    look(stubber, state, *both("CANCELLED", "CANCELLED"), StateChangeReason=reason)
    assert run(*NIGHT) == 1
    stubber.assert_no_pending_responses()  # no TerminateJobFlows: the cluster has ended
    assert capsys.readouterr().err.splitlines() == [
        f"cluster {CLUSTER}: STARTING",
        f"step {SALES} (sales_warehouse 1992-01-02): PENDING",
        f"step {CLICKS} (clickstream_sessions 1992-01-02): PENDING",
        f"cluster {CLUSTER}: BOOTSTRAPPING",
        f"cluster {CLUSTER}: {state}",
        f"step {SALES} (sales_warehouse 1992-01-02): CANCELLED",
        f"step {CLICKS} (clickstream_sessions 1992-01-02): CANCELLED",
        line,
    ]


def test_ctrl_c_terminates_the_cluster_and_exits_130(stubber: Stubber, fake_time: FakeTime, capsys: pytest.CaptureFixture[str]) -> None:
    fake_time.on_sleep = interrupt
    look(stubber, "STARTING", *both("PENDING", "PENDING"))
    expect_termination(stubber)
    assert run(*NIGHT) == 130
    stubber.assert_no_pending_responses()
    out, err = capsys.readouterr()
    assert out == f"{CLUSTER}\n"
    assert err.splitlines() == [
        f"cluster {CLUSTER}: STARTING",
        f"step {SALES} (sales_warehouse 1992-01-02): PENDING",
        f"step {CLICKS} (clickstream_sessions 1992-01-02): PENDING",
        f"terminated cluster {CLUSTER}: interrupted",
        "etl: error: interrupted",
    ]


def test_the_timeout_terminates_the_cluster(stubber: Stubber, fake_time: FakeTime, capsys: pytest.CaptureFixture[str]) -> None:
    for _ in range(3):  # at 0, 30 and 60 seconds: the minute is up
        look(stubber, "RUNNING", *both("COMPLETED", "RUNNING"))
    expect_termination(stubber)
    assert run(*NIGHT, "--timeout-minutes", "1") == 1
    stubber.assert_no_pending_responses()
    assert capsys.readouterr().err.splitlines() == [
        f"cluster {CLUSTER}: RUNNING",
        f"step {SALES} (sales_warehouse 1992-01-02): COMPLETED",
        f"step {CLICKS} (clickstream_sessions 1992-01-02): RUNNING",
        f"terminated cluster {CLUSTER}: not done after 1 min",
        f"etl: error: cluster {CLUSTER}: not done after 1 min (--timeout-minutes); not completed: "
        f"{CLICKS} (clickstream_sessions 1992-01-02) RUNNING",
    ]
    assert fake_time.pauses == [30.0, 30.0]


def test_an_error_while_watching_terminates_the_cluster(stubber: Stubber, fake_time: FakeTime, capsys: pytest.CaptureFixture[str]) -> None:
    look(stubber, "STARTING", *both("PENDING", "PENDING"))
    stubber.add_client_error("describe_cluster", "ThrottlingException", "Rate exceeded", 400, expected_params={"ClusterId": CLUSTER})
    expect_termination(stubber)
    assert run(*NIGHT) == 1
    stubber.assert_no_pending_responses()
    assert capsys.readouterr().err.splitlines()[-2:] == [
        f"terminated cluster {CLUSTER}: watching it failed",
        "etl: error: EMR DescribeCluster: ThrottlingException: Rate exceeded",
    ]


def test_a_cluster_that_cannot_be_terminated_says_what_to_run(
    stubber: Stubber, fake_time: FakeTime, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_time.on_sleep = interrupt
    look(stubber, "STARTING", *both("PENDING", "PENDING"))
    stubber.add_client_error("terminate_job_flows", "AccessDeniedException", "not authorized to perform elasticmapreduce:TerminateJobFlows")
    assert run(*NIGHT) == 130
    stubber.assert_no_pending_responses()
    assert capsys.readouterr().err.splitlines()[-2:] == [
        f"could not terminate cluster {CLUSTER} (EMR TerminateJobFlows: AccessDeniedException: not authorized to perform "
        f"elasticmapreduce:TerminateJobFlows): run aws emr terminate-clusters --cluster-ids {CLUSTER}",
        "etl: error: interrupted",
    ]


def test_a_refused_request_is_one_line_and_leaves_nothing_to_terminate(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    client = boto3.client("emr", region_name=REGION)
    monkeypatch.setattr("etl.emr.aws.emr_client", lambda env, region=None, endpoint=None: client)
    with Stubber(client) as stub:
        stub.add_client_error("run_job_flow", "ValidationException", "Invalid InstanceProfile: EMR_EC2_DefaultRole.")
        assert run(*NIGHT) == 1
        stub.assert_no_pending_responses()
    out, err = capsys.readouterr()
    assert (out, err) == ("", "etl: error: EMR RunJobFlow: ValidationException: Invalid InstanceProfile: EMR_EC2_DefaultRole.\n")


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["--shape", "cli"], "etl: error: --shape is for etl cluster plan"),
        (["--timeout-minutes", "0"], "etl: error: --poll-seconds must be 0 or more and --timeout-minutes more than 0"),
    ],
    ids=["shape", "timeout"],
)
def test_arguments_that_do_not_fit_run_are_one_line(capsys: pytest.CaptureFixture[str], args: list[str], line: str) -> None:
    assert run(*NIGHT, *args) == 1
    assert capsys.readouterr() == ("", f"{line}\n")
