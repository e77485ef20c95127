"""The README's commands of "Running on EMR", run as written (tests/readme.py): `etl` and the real AWS CLI
(.venv-awscli, which `make setup` builds) against moto's server on 127.0.0.1; then what AWS holds is checked
against the files on disk and values written out by hand.

moto creates clusters but never runs a step: the server here runs each step as soon as it is added (as EMR
would between two looks of `--wait`), and a cluster that is not kept alive then ends, so `etl cluster run` and
`etl submit --wait` end at their first look. moto's EMR Serverless ends a job run in SUCCESS at once."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tarfile
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from moto.core import DEFAULT_ACCOUNT_ID
from moto.emr.models import emr_backends
from moto.moto_server.werkzeug_app import MotoRequestHandler
from werkzeug.serving import make_server

from etl.dev.ports import free_port
from etl.emr.package import uncommitted
from tests.leaks import record_output, register_secret
from tests.readme import Block, Ran, blocks_run_by, run
from tests.release import release_zip
from tests.unit.test_aws_cli import RecordingEmr

REPO = Path(__file__).resolve().parents[2]
AWS_CLI = REPO / ".venv-awscli" / "bin"
REGION = "us-east-1"
SECRET = "etl-readme-not-a-real-secret"
ROLE = "arn:aws:iam::123456789012:role/etl-serverless-job"  # the README's conf/env/emr.yaml
ARTIFACTS = "s3://acme-etl/artifacts/0.1.0"
# The README's blocks, in its order (the docker one is not run: see `bare_venv_emr`).
CLUSTER_RUN, CREATE_CLUSTER, MWAA, PACKAGE, DEPLOY_AND_SUBMIT, SCHEDULE, STEPS = blocks_run_by(__file__)
register_secret(SECRET)


class EmrThatRunsSteps(RecordingEmr):
    """moto's API, keeping the JSON body of each EMR call (what the client sent); after a RunJobFlow or
    AddJobFlowSteps, every step is COMPLETED and a cluster not kept alive without steps TERMINATED."""

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        answer = super().__call__(environ, start_response)
        if environ.get("HTTP_X_AMZ_TARGET") in ("ElasticMapReduce.RunJobFlow", "ElasticMapReduce.AddJobFlowSteps"):
            for cluster in emr_backends[DEFAULT_ACCOUNT_ID][REGION].clusters.values():
                for step in cluster.steps:
                    step.state = "COMPLETED"
                if cluster.keep_job_flow_alive_when_no_steps:
                    cluster.state = "WAITING"
                elif cluster.state != "TERMINATED":
                    cluster.terminate()
        return answer


@dataclass
class Aws:
    endpoint: str
    emr: EmrThatRunsSteps

    def client(self, service: str) -> Any:
        return boto3.client(
            service, region_name=REGION, endpoint_url=self.endpoint, aws_access_key_id="etl-test", aws_secret_access_key=SECRET
        )

    def bucket(self, name: str) -> dict[str, bytes]:
        s3 = self.client("s3")
        keys = [item["Key"] for item in s3.list_objects_v2(Bucket=name).get("Contents", [])]
        return {key: s3.get_object(Bucket=name, Key=key)["Body"].read() for key in keys}

    def steps(self, cluster_id: str) -> list[tuple[str, str, list[str]]]:
        """(name, action on failure, args) of the cluster's steps in the order they were added (ListSteps gives
        the newest first, to the millisecond: moto's own record)."""
        listed = {step["Id"]: step for step in self.client("emr").list_steps(ClusterId=cluster_id)["Steps"]}
        in_order = [step.id for step in emr_backends[DEFAULT_ACCOUNT_ID][REGION].clusters[cluster_id].steps]
        assert sorted(in_order) == sorted(listed)
        return [(listed[i]["Name"], listed[i]["ActionOnFailure"], listed[i]["Config"]["Args"]) for i in in_order]


@pytest.fixture
def aws() -> Iterator[Aws]:
    emr = EmrThatRunsSteps()
    server = make_server("127.0.0.1", free_port(), emr, threaded=True, request_handler=MotoRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    endpoint = f"http://127.0.0.1:{server.server_port}"
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10).close()
    try:
        yield Aws(endpoint, emr)
    finally:
        server.shutdown()
        thread.join()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """Where a reader runs the commands: the project's examples/, and conf/ with the serverless section the
    README has them add to conf/env/emr.yaml."""
    folder = tmp_path / "emr-etl"
    shutil.copytree(REPO / "conf", folder / "conf")
    (folder / "examples").symlink_to(REPO / "examples")
    emr_yaml = folder / "conf" / "env" / "emr.yaml"
    settings = yaml.safe_load(emr_yaml.read_text())
    settings["emr"]["serverless"] = {"execution_role_arn": ROLE}
    emr_yaml.write_text(yaml.safe_dump(settings))
    return folder


def readme(block: Block, aws: Aws, project: Path, *, exported: bool = True, **replace: str) -> list[Ran]:
    """Run a block in `project` with the AWS CLI on PATH, fake credentials, no profile of the machine's own, and
    every AWS call going to moto (AWS_ENDPOINT_URL, which etl and the AWS CLI read). `exported`: ETL_BUCKET as
    the first block exports it in the reader's shell."""
    env = {
        "PATH": f"{AWS_CLI}:/usr/bin:/bin",
        "HOME": str(project),
        "PYTHONPATH": str(REPO),  # the etl of this checkout
        "AWS_ENDPOINT_URL": aws.endpoint,
        "AWS_ACCESS_KEY_ID": "etl-test",
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": str(project / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(project / "no-aws-credentials"),
        **({"ETL_BUCKET": "acme-lake"} if exported else {}),
    }
    assert (AWS_CLI / "aws").is_file(), f"{AWS_CLI / 'aws'} is missing: `make setup` installs the AWS CLI there"
    done = run(block, cwd=project, env=env, replace={"s3://BUCKET/": "s3://acme-etl/", **replace})
    for ran in done:
        record_output(ran.command.text, ran.stdout + ran.stderr)
        if ran.command.argv[:3] != ["etl", "cluster", "run"] and ran.command.argv[:2] != ["etl", "submit"]:  # their progress: asserted
            assert ran.stderr == "", f"{ran.command} printed on stderr:\n{ran.stderr}"
    return done


def step_args(job: str, *days: str, zip_name: str | None = None) -> list[str]:
    """What a step of the job runs, written out by hand."""
    return [
        *["spark-submit", "--deploy-mode", "client", "--py-files", f"{ARTIFACTS}/{zip_name or release_zip()}"],
        *["--jars", f"{ARTIFACTS}/etl-catalog.jar", f"{ARTIFACTS}/main.py", "--job", job, "--env", "emr", *days],
    ]


# --- a transient cluster: etl cluster run, and the same with the AWS CLI -------------------------------------

NIGHT_STEPS = [
    ("etl run sales_warehouse 1992-04-01 --env emr", "CANCEL_AND_WAIT", step_args("sales_warehouse", "--run-date", "1992-04-01")),
    ("etl run clickstream_sessions 1992-04-01 --env emr", "CANCEL_AND_WAIT", step_args("clickstream_sessions", "--run-date", "1992-04-01")),
    ("etl run daily_kpis 1992-04-01 --env emr", "CONTINUE", step_args("daily_kpis", "--run-date", "1992-04-01")),
]  # fmt: skip


def assert_the_night(aws: Aws, cluster_id: str) -> None:
    """conf/pipelines/nightly.yaml on conf/env/emr.yaml's cluster, its lake in s3://acme-lake/etl (ETL_BUCKET)."""
    cluster = aws.client("emr").describe_cluster(ClusterId=cluster_id)["Cluster"]
    assert (cluster["Name"], cluster["ReleaseLabel"], cluster["LogUri"], cluster["AutoTerminate"]) == (
        "etl nightly 1992-04-01",
        "emr-7.13.0",
        "s3://acme-lake/etl/emr-logs/",
        True,
    )
    [spark_env] = [c for c in cluster["Configurations"] if c["Classification"] == "spark-env"]
    [export] = spark_env["Configurations"]
    assert (export["Classification"], export["Properties"]["ETL_BUCKET"]) == ("export", "acme-lake")
    assert aws.steps(cluster_id) == NIGHT_STEPS


def test_a_transient_cluster_and_the_same_created_with_the_aws_cli(aws: Aws, project: Path) -> None:
    plan, started = readme(CLUSTER_RUN, aws, project, exported=False)  # the block exports ETL_BUCKET itself
    request = json.loads(plan.stdout)
    cluster_id = started.stdout.strip()
    assert started.stdout == f"{cluster_id}\n"
    assert aws.emr.calls[0] == ("RunJobFlow", request)  # what the plan prints is what the run sends
    assert "TerminateJobFlows" not in [operation for operation, _ in aws.emr.calls]  # it ends itself
    [sales, clicks, kpis] = [step.id for step in emr_backends[DEFAULT_ACCOUNT_ID][REGION].clusters[cluster_id].steps]
    assert started.stderr.splitlines() == [
        f"cluster {cluster_id}: TERMINATED",
        f"step {sales} (sales_warehouse 1992-04-01): COMPLETED",
        f"step {clicks} (clickstream_sessions 1992-04-01): COMPLETED",
        f"step {kpis} (daily_kpis 1992-04-01): COMPLETED",
        f"cluster {cluster_id}: every step COMPLETED (the cluster terminates itself)",
    ]
    assert_the_night(aws, cluster_id)

    # etl cluster plan ... --shape cli > create-cluster.sh; sh create-cluster.sh
    before = len(aws.emr.calls)
    _, created = readme(CREATE_CLUSTER, aws, project)
    assert (project / "create-cluster.sh").read_text().startswith("aws emr create-cluster \\\n  --name 'etl nightly 1992-04-01' \\\n")
    assert aws.emr.calls[before:] == [("RunJobFlow", request)]  # the AWS CLI sends exactly the planned request
    assert_the_night(aws, json.loads(created.stdout)["ClusterId"])


# --- Amazon MWAA: the DAG next to its plan -------------------------------------------------------------------


def test_the_dag_and_its_plan_land_in_the_mwaa_bucket(aws: Aws, project: Path) -> None:
    aws.client("s3").create_bucket(Bucket="acme-mwaa")
    readme(MWAA, aws, project, exported=False, MWAA_BUCKET="acme-mwaa")  # ETL_BUCKET=acme-lake on its line
    plan = (project / "nightly.json").read_bytes()
    assert aws.bucket("acme-mwaa") == {
        "dags/etl/nightly.py": (REPO / "examples" / "airflow" / "nightly.py").read_bytes(),
        "dags/etl/nightly.json": plan,
    }
    request = json.loads(plan)
    assert (request["Name"], request["LogUri"]) == ("etl nightly 1970-01-01", "s3://acme-lake/etl/emr-logs/")
    assert [(s["Name"], s["ActionOnFailure"], s["HadoopJarStep"]["Args"]) for s in request["Steps"]] == [
        (name.replace("1992-04-01", "1970-01-01"), action, [arg.replace("1992-04-01", "1970-01-01") for arg in args])
        for name, action, args in NIGHT_STEPS
    ]  # the DAG puts its {{ ds }} in place of the day
    assert aws.emr.calls == []  # a plan calls no AWS API


# --- EMR Serverless: package, deploy, submit; the schedule ---------------------------------------------------


def application(aws: Aws) -> str:
    created = aws.client("emr-serverless").create_application(name="etl", releaseLabel="emr-7.13.0", type="SPARK")
    return str(created["applicationId"])


def bare_venv_emr(project: Path) -> None:
    """What the README's docker command builds, without its requirements (Docker does not run here, and
    installing them takes minutes): a virtual environment for venv-pack to pack."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(project / ".venv-emr")], check=True, timeout=120)


def test_the_release_with_its_venv_deployed_and_a_run_on_emr_serverless(aws: Aws, project: Path) -> None:
    aws.client("s3").create_bucket(Bucket="acme-etl")
    app = application(aws)
    # a checkout with uncommitted changes (a developer's) builds only with --allow-dirty, as `etl package` says
    dirty = {"etl package": "etl package --allow-dirty"} if uncommitted(REPO) else {}
    readme(PACKAGE, aws, project, **dirty)
    bare_venv_emr(project)
    packed, deployed, submitted = readme(DEPLOY_AND_SUBMIT, aws, project, APPLICATION_ID=app, **dirty)

    dist = project / "dist"
    files = {path.relative_to(dist).as_posix(): path.read_bytes() for path in dist.rglob("*") if path.is_file()}
    assert aws.bucket("acme-etl") == {f"artifacts/0.1.0/{name}": body for name, body in files.items()}
    assert deployed.stdout.splitlines() == [
        f"uploaded s3://acme-etl/artifacts/0.1.0/{name} ({len(body)} bytes)" for name, body in sorted(files.items())
    ]
    assert packed.stdout.splitlines()[-1].startswith("dist/pyspark_venv.tar.gz  (Python ")
    with tarfile.open(dist / "pyspark_venv.tar.gz") as archive:
        assert "pyvenv.cfg" in archive.getnames()
    [zip_name] = [name for name in files if re.fullmatch(r"etl-.+\.zip", name)]
    assert {"main.py", "etl-catalog.jar", "requirements.txt", "conf/env/emr.yaml"} <= set(files)

    job_run_id = submitted.stdout.strip()
    assert (submitted.stdout, submitted.stderr) == (f"{job_run_id}\n", f"job run {job_run_id}: SUCCESS\n")
    started = aws.client("emr-serverless").get_job_run(applicationId=app, jobRunId=job_run_id)["jobRun"]
    assert (started["state"], started["executionRole"], started["releaseLabel"]) == ("SUCCESS", ROLE, "emr-7.13.0")
    spark_submit = started["jobDriver"]["sparkSubmit"]
    assert (spark_submit["entryPoint"], spark_submit["entryPointArguments"]) == (
        f"{ARTIFACTS}/main.py",
        ["--job", "sales_warehouse", "--env", "emr", "--run-date", "1992-01-02"],
    )
    parameters = spark_submit["sparkSubmitParameters"]
    assert parameters.startswith(f"--py-files {ARTIFACTS}/{zip_name} --jars {ARTIFACTS}/etl-catalog.jar ")
    assert f"--conf spark.archives={ARTIFACTS}/pyspark_venv.tar.gz#environment " in parameters
    # every file the run reads was deployed
    named = {uri.partition("#")[0] for uri in re.findall(r"s3://\S+", f"{spark_submit['entryPoint']} {parameters}")}
    assert named == {f"{ARTIFACTS}/{name}" for name in ("main.py", zip_name, "etl-catalog.jar", "pyspark_venv.tar.gz")}
    assert named <= {f"s3://acme-etl/{key}" for key in aws.bucket("acme-etl")}


def test_the_schedule_created_with_the_aws_cli(aws: Aws, project: Path) -> None:
    app = application(aws)
    _, created = readme(SCHEDULE, aws, project, APPLICATION_ID=app, ACCOUNT=DEFAULT_ACCOUNT_ID)
    assert json.loads(created.stdout)["ScheduleArn"].endswith(":schedule/default/etl-sales_warehouse-emr")
    stored = aws.client("scheduler").get_schedule(Name="etl-sales_warehouse-emr")
    assert (stored["ScheduleExpression"], stored["ScheduleExpressionTimezone"], stored["State"]) == (
        "cron(30 3 * * ? *)",
        "Europe/Berlin",
        "ENABLED",
    )
    target = stored["Target"]
    assert target == json.loads((project / "schedule.json").read_text())["Target"]  # as etl schedule printed it
    assert (target["Arn"], target["RoleArn"]) == (
        "arn:aws:scheduler:::aws-sdk:emrserverless:startJobRun",
        f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/etl-scheduler",
    )
    run_request = json.loads(target["Input"])
    assert (run_request["ApplicationId"], run_request["ExecutionRoleArn"], run_request["ClientToken"]) == (
        app,
        ROLE,
        "<aws.scheduler.execution-id>",
    )
    assert run_request["JobDriver"]["SparkSubmit"]["EntryPoint"] == f"{ARTIFACTS}/main.py"
    assert run_request["JobDriver"]["SparkSubmit"]["EntryPointArguments"] == [
        *["--job", "sales_warehouse", "--env", "emr", "--scheduled-time", "<aws.scheduler.scheduled-time>"],
        *["--timezone", "Europe/Berlin", "--days-before", "1"],
    ]


# --- steps on a cluster that stays up -------------------------------------------------------------------------


def test_steps_added_with_the_aws_cli_and_etl_submit(aws: Aws, project: Path) -> None:
    instances = {"MasterInstanceType": "m5.xlarge", "InstanceCount": 1, "KeepJobFlowAliveWhenNoSteps": True}
    emr = aws.client("emr")
    cluster_id = emr.run_job_flow(Name="etl", ReleaseLabel="emr-7.13.0", Instances=instances, JobFlowRole="r", ServiceRole="s")["JobFlowId"]
    _, added, submitted = readme(STEPS, aws, project, **{"j-XXXXXXXX": cluster_id})
    one_day, backfill = [step.id for step in emr_backends[DEFAULT_ACCOUNT_ID][REGION].clusters[cluster_id].steps]
    assert json.loads(added.stdout) == {"StepIds": [one_day]}
    assert (submitted.stdout, submitted.stderr) == (f"{backfill}\n", f"step {backfill}: COMPLETED\n")
    assert aws.steps(cluster_id) == [
        ("etl run sales_warehouse 1992-04-01 --env emr", "CONTINUE", step_args("sales_warehouse", "--run-date", "1992-04-01")),
        (
            "etl backfill sales_warehouse 1992-01-01..1992-03-31 --env emr",
            "CONTINUE",
            step_args("sales_warehouse", "--from", "1992-01-01", "--to", "1992-03-31"),
        ),
    ]
