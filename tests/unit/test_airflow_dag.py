"""examples/airflow/: the nightly DAG as Airflow itself loads it (apache-airflow and its Amazon provider in
.venv-airflow, which `make setup` builds), the request it sends for a night against `etl cluster plan`'s,
and its tasks run against moto's EMR API on 127.0.0.1."""

from __future__ import annotations

import ast
import json
import shlex
import subprocess
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.emr.models import emr_backends

from etl.cli import main

REPO = Path(__file__).resolve().parents[2]
AIRFLOW_PYTHON = REPO / ".venv-airflow" / "bin" / "python"
EXAMPLE = REPO / "examples" / "airflow"
ARTIFACTS = "s3://acme-etl/artifacts/0.1.0/"
REGION = "us-east-1"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "etl-test", "AWS_SECRET_ACCESS_KEY": "etl-test", "AWS_DEFAULT_REGION": REGION}
# How the DAG's docstring says to write the nightly.json it reads (placeholders in <...>).
PLAN_COMMAND = (
    "ETL_BUCKET=<lake bucket> etl cluster plan nightly --run-date 1970-01-01 --artifacts s3://<bucket>/artifacts/<version>/ > nightly.json"
)

# Run by .venv-airflow/bin/python: `load DS OUT` loads the DAG folder with Airflow's DagBag (no metadata
# database), renders create_cluster's templated fields for DS and writes what it found to OUT; `run ...`
# runs the tasks against the EMR API that the aws_default connection points at.
PROBE = """
import json, sys
from pathlib import Path
from airflow.exceptions import AirflowException
from airflow.models.dagbag import DagBag

folder, action, out, *args = sys.argv[1:]
bag = DagBag(dag_folder=folder, include_examples=False)
found = {"import_errors": bag.import_errors, "dag_ids": sorted(bag.dags)}
dag = bag.dags.get("etl_nightly")
if dag is not None and action == "load":
    [ds] = args
    found["schedule"] = dag.timetable.summary
    found["timezone"] = dag.timezone.name
    found["catchup"] = dag.catchup
    found["max_active_runs"] = dag.max_active_runs
    found["tasks"] = [
        {
            "task_id": task.task_id,
            "operator": type(task).__name__,
            "upstream": sorted(task.upstream_task_ids),
            "downstream": sorted(task.downstream_task_ids),
            "trigger_rule": str(task.trigger_rule),
            "setup": task.is_setup,
            "teardown": task.is_teardown,
            "retries": task.retries,
        }
        for task in dag.task_group.topological_sort()
    ]
    create = dag.get_task("create_cluster")
    found["emr_conn_id"] = create.emr_conn_id
    create.render_template_fields({"ds": ds})  # what a task instance does before execute
    found["job_flow_overrides"] = create.job_flow_overrides
elif dag is not None and action == "create":
    [ds] = args
    create = dag.get_task("create_cluster")
    create.render_template_fields({"ds": ds})
    found["cluster_id"] = create.execute({})
elif dag is not None and action == "run":
    ended, running = args  # the first ended with a failed step, the second's steps all completed
    watch = dag.get_task("watch_cluster")
    found["poked"] = []
    for cluster_id in (ended, running):
        watch.job_flow_id = cluster_id
        found["poked"].append(watch.poke({}))
    check = dag.get_task("check_steps").python_callable
    try:
        check(ended)
    except AirflowException as error:
        found["checked_ended"] = str(error)
    found["checked_running"] = check(running)
    terminate = dag.get_task("terminate_cluster")
    terminate.job_flow_id = running
    terminate.execute({})
Path(out).write_text(json.dumps(found))
"""


def airflow(tmp_path: Path, dags: Path, action: str, *args: str, endpoint: str | None = None) -> dict[str, Any]:
    assert AIRFLOW_PYTHON.is_file(), f"{AIRFLOW_PYTHON} is missing: `make setup` installs Airflow and its Amazon provider there"
    home = tmp_path / "airflow-home"
    out = tmp_path / f"{action}.json"
    environ = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),  # nothing of the machine's own AWS or Airflow configuration
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",  # two busy cores: not the 30 s default
    }
    if endpoint:
        connection = {"conn_type": "aws", "extra": {"endpoint_url": endpoint, "region_name": REGION}}
        environ |= {"AIRFLOW_CONN_AWS_DEFAULT": json.dumps(connection), **CREDENTIALS}
    done = subprocess.run(
        [str(AIRFLOW_PYTHON), "-c", PROBE, str(dags), action, str(out), *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    found: dict[str, Any] = json.loads(out.read_text())
    return found


def etl(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str) -> str:
    """What `ETL_BUCKET=acme-lake etl ARGS` prints, from the repository's root."""
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("ETL_BUCKET", "acme-lake")
    for name in ("ETL_PREFIX", "ETL_TABLE_FORMAT", "ETL_CONF_DIR"):
        monkeypatch.delenv(name, raising=False)
    assert main(list(args)) == 0, capsys.readouterr().err
    return capsys.readouterr().out


def night(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, day: str) -> Any:
    return json.loads(etl(capsys, monkeypatch, "cluster", "plan", "nightly", "--run-date", day, "--artifacts", ARTIFACTS))


@pytest.fixture
def dags(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Path:
    """A dags folder as the DAG's docstring says to deploy it: nightly.py, and beside it the nightly.json
    its command writes (ETL_BUCKET=acme-lake, the artifacts s3://acme-etl/artifacts/0.1.0/)."""
    docstring = ast.get_docstring(ast.parse((EXAMPLE / "nightly.py").read_text()))
    assert docstring is not None and PLAN_COMMAND in docstring
    words = shlex.split(PLAN_COMMAND.replace("<lake bucket>", "acme-lake").replace("s3://<bucket>/artifacts/<version>/", ARTIFACTS))
    assert (words[0], words[1], words[-2], words[-1]) == ("ETL_BUCKET=acme-lake", "etl", ">", "nightly.json")
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "nightly.py").write_text((EXAMPLE / "nightly.py").read_text())
    (folder / "nightly.json").write_text(etl(capsys, monkeypatch, *words[2:-2]))
    return folder


def test_airflow_loads_the_dag_and_renders_the_plan_of_each_night(
    tmp_path: Path, dags: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    found = airflow(tmp_path, dags, "load", "1992-01-02")
    assert (found["import_errors"], found["dag_ids"]) == ({}, ["etl_nightly"])
    assert (found["schedule"], found["timezone"], found["catchup"], found["max_active_runs"]) == ("30 2 * * *", "UTC", False, 1)
    assert found["tasks"] == [
        {
            "task_id": "create_cluster",
            "operator": "EmrCreateJobFlowOperator",
            "upstream": [],
            "downstream": ["check_steps", "terminate_cluster", "watch_cluster"],
            "trigger_rule": "all_success",
            "setup": True,
            "teardown": False,
            "retries": 0,
        },
        {
            "task_id": "watch_cluster",
            "operator": "EmrJobFlowSensor",
            "upstream": ["create_cluster"],
            "downstream": ["check_steps"],
            "trigger_rule": "all_success",
            "setup": False,
            "teardown": False,
            "retries": 2,
        },
        {
            "task_id": "check_steps",
            "operator": "_PythonDecoratedOperator",
            "upstream": ["create_cluster", "watch_cluster"],
            "downstream": ["terminate_cluster"],
            "trigger_rule": "all_success",
            "setup": False,
            "teardown": False,
            "retries": 2,
        },
        {
            "task_id": "terminate_cluster",
            "operator": "EmrTerminateJobFlowOperator",
            "upstream": ["check_steps", "create_cluster"],
            "downstream": [],
            "trigger_rule": "all_done_setup_success",  # runs when the cluster was created, whatever came after
            "setup": False,
            "teardown": True,
            "retries": 2,
        },
    ]
    assert found["emr_conn_id"] is None
    assert found["job_flow_overrides"] == night(capsys, monkeypatch, "1992-01-02")


def test_a_night_against_an_emr_api(
    emr_endpoint: str, tmp_path: Path, dags: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    emr = boto3.client("emr", endpoint_url=emr_endpoint, region_name=REGION)
    clusters = emr_backends[DEFAULT_ACCOUNT_ID][REGION].clusters

    # create_cluster sends the night's request, and nothing else
    created = airflow(tmp_path, dags, "create", "1992-01-02", endpoint=emr_endpoint)
    assert created["import_errors"] == {}
    night_id = created["cluster_id"]
    request = night(capsys, monkeypatch, "1992-01-02")
    cluster = emr.describe_cluster(ClusterId=night_id)["Cluster"]
    assert (cluster["Name"], cluster["ReleaseLabel"], cluster["LogUri"]) == (request["Name"], request["ReleaseLabel"], request["LogUri"])
    assert cluster["Tags"] == request["Tags"]
    steps = emr.list_steps(ClusterId=night_id)["Steps"][::-1]
    assert [(step["Name"], step["Config"]["Args"]) for step in steps] == [
        (step["Name"], step["HadoopJarStep"]["Args"]) for step in request["Steps"]
    ]

    # EMR ends a cluster TERMINATED when its steps are done, though one failed (this night's second);
    # another night's cluster, its steps completed, is still running (moto ends none by itself)
    first, second, third = clusters[night_id].steps
    first.state, second.state, third.state = "COMPLETED", "FAILED", "CANCELLED"
    clusters[night_id].terminate()
    other_id = emr.run_job_flow(**night(capsys, monkeypatch, "1992-01-03"))["JobFlowId"]
    for step in clusters[other_id].steps:
        step.state = "COMPLETED"

    ran = airflow(tmp_path, dags, "run", night_id, other_id, endpoint=emr_endpoint)
    assert ran["poked"] == [True, False]  # watch_cluster is done with the ended cluster, waits for the other
    assert (
        ran.get("checked_ended")
        == f"cluster {night_id}: steps that did not complete: etl run clickstream_sessions 1992-01-02 --env emr: FAILED; "
        "etl run daily_kpis 1992-01-02 --env emr: CANCELLED"
    )
    assert ran["checked_running"] is None
    assert emr.describe_cluster(ClusterId=other_id)["Cluster"]["Status"]["State"] == "TERMINATED"
