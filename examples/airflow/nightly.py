"""The nightly pipeline (conf/pipelines/nightly.yaml) on a transient EMR cluster, every day at 02:30 UTC.

Airflow 2.10 with the Amazon provider (Amazon MWAA 2.10.x has both). A run loads its data interval's first
day, `{{ ds }}`: the run at 02:30 on 2 June loads 1 June. The cluster is the RunJobFlow request of
`etl cluster plan` in nightly.json, beside this file; the DAG puts each run's day in place of the day that
file was planned for (its etl:first-day tag) and Airflow renders it (job_flow_overrides is a templated
field), so the request a run sends is the one `etl cluster plan nightly --run-date <ds>` prints.

    create_cluster >> watch_cluster >> check_steps >> terminate_cluster

The cluster ends itself when its steps are done (KeepJobFlowAliveWhenNoSteps false). A step that fails
does not make it end in error (its ActionOnFailure is CONTINUE or CANCEL_AND_WAIT), so check_steps fails
the run when a step did not complete. terminate_cluster is the teardown of create_cluster: it runs whatever
happened in between, so a failed night never leaves a cluster running, and it does not decide the run's state.

Deploy to MWAA (after `make deploy` put dist/ under the artifacts prefix):

    ETL_BUCKET=<lake bucket> etl cluster plan nightly --run-date 1970-01-01 --artifacts s3://<bucket>/artifacts/<version>/ > nightly.json
    aws s3 cp examples/airflow/nightly.py s3://<mwaa bucket>/dags/etl/nightly.py
    aws s3 cp nightly.json s3://<mwaa bucket>/dags/etl/nightly.json

Any day works in place of 1970-01-01, as long as it appears nowhere else in the request (not in the
artifacts prefix). The environment's execution role runs the API calls: elasticmapreduce:RunJobFlow,
DescribeCluster, ListSteps and TerminateJobFlows, and iam:PassRole for the cluster's two roles.

The tests (tests/unit/test_airflow_dag.py) deploy it this way into a folder of their own and load it with
Airflow's DagBag.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum
from airflow import DAG
from airflow.decorators import task
from airflow.exceptions import AirflowException
from airflow.providers.amazon.aws.hooks.emr import EmrHook
from airflow.providers.amazon.aws.operators.emr import EmrCreateJobFlowOperator, EmrTerminateJobFlowOperator
from airflow.providers.amazon.aws.sensors.emr import EmrJobFlowSensor

PLAN = Path(__file__).with_name("nightly.json")


def request_of_each_night() -> dict[str, Any]:
    """nightly.json with `{{ ds }}` in place of the day it was planned for."""
    text = PLAN.read_text()
    tags = {tag["Key"]: tag["Value"] for tag in json.loads(text)["Tags"]}
    day = tags["etl:first-day"]
    if tags["etl:last-day"] != day:
        raise ValueError(f"{PLAN}: plans {day}..{tags['etl:last-day']}; the nightly needs a one-day plan (--run-date)")
    request: dict[str, Any] = json.loads(text.replace(day, "{{ ds }}"))
    return request


@task
def check_steps(cluster_id: str) -> None:
    """Fail when a step of the ended cluster did not complete."""
    emr = EmrHook(aws_conn_id="aws_default").conn
    steps = [step for page in emr.get_paginator("list_steps").paginate(ClusterId=cluster_id) for step in page["Steps"]]
    failed = [f"{step['Name']}: {step['Status']['State']}" for step in reversed(steps) if step["Status"]["State"] != "COMPLETED"]
    if failed:
        raise AirflowException(f"cluster {cluster_id}: steps that did not complete: {'; '.join(failed)}")


with DAG(
    dag_id="etl_nightly",
    schedule="30 2 * * *",
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # one cluster at a time
    # Watching, checking and terminating are safe to retry; creating is not (a second cluster): retries=0 there.
    default_args={"owner": "etl", "retries": 2, "retry_delay": timedelta(minutes=5)},
    tags=["etl", "emr"],
    doc_md=__doc__,
) as dag:
    create_cluster = EmrCreateJobFlowOperator(
        task_id="create_cluster",
        job_flow_overrides=request_of_each_night(),
        emr_conn_id=None,  # the request is all of RunJobFlow: nothing merged in from an emr_default connection
        retries=0,
    )
    watch_cluster = EmrJobFlowSensor(
        task_id="watch_cluster",
        job_flow_id=create_cluster.output,  # fails when the cluster ends TERMINATED_WITH_ERRORS
        mode="reschedule",  # frees the worker slot between looks
        poke_interval=300,
        timeout=timedelta(hours=12),
    )
    terminate_cluster = EmrTerminateJobFlowOperator(task_id="terminate_cluster", job_flow_id=create_cluster.output)

    watch_cluster >> check_steps(create_cluster.output) >> terminate_cluster.as_teardown(setups=create_cluster)
