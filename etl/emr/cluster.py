"""The RunJobFlow request of a transient cluster: created for a night's jobs, running them as steps in
the order their dependencies give, and terminated when they are done (or after an idle timeout)."""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from etl.config.models import EnvConfig
from etl.context import DateWindow
from etl.emr.steps import cli_step, emr_step
from etl.errors import ConfigError

# Configurations that keep the tables' metadata outside the cluster, by classification and property.
OUTLIVING_METASTORES = {
    ("spark-hive-site", "hive.metastore.client.factory.class"): "the Glue Data Catalog",
    ("hive-site", "javax.jdo.option.ConnectionURL"): "an external Hive metastore database",
}


def run_job_flow(
    env: EnvConfig,
    name: str,
    jobs: Sequence[str],
    dependents: Mapping[str, Sequence[str]],
    window: DateWindow,
    artifacts: str,
    configurations_dir: Path,
    exports: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The request: the env's emr section, and one step per job in `jobs`' order. A job others depend on
    cancels the later steps when it fails (EMR steps know no dependencies: independent ones are cancelled
    too); the cluster ends when no step is left. `exports`: environment variables the env reads on the
    driver (ETL_BUCKET...), which a step cannot set: exported in spark-env."""
    cluster, shown = env.emr.cluster, f"conf/env/{env.name}.yaml"
    if not env.emr.release_label:
        raise ConfigError(f"{shown}: emr.release_label: needed to create a cluster (emr-7.x or emr-spark-8.x)")
    files = [_configuration(configurations_dir, item, shown) for item in cluster.configurations]
    if exports:
        files.append(
            [
                {
                    "Classification": "spark-env",
                    "Properties": {},
                    "Configurations": [{"Classification": "export", "Properties": dict(exports)}],
                }
            ]
        )
    configurations = merged(files, shown)
    _require_outliving_metastore(env, configurations, shown)
    base = artifacts.rstrip("/")
    return {
        "Name": name,
        "ReleaseLabel": env.emr.release_label,
        "LogUri": _log_uri(env, shown),
        "Applications": [{"Name": application} for application in cluster.applications],
        "Instances": {
            "InstanceGroups": [
                _group("primary", "MASTER", cluster.primary.instance_type, cluster.primary.count),
                _group("core", "CORE", cluster.core.instance_type, cluster.core.count),
            ],
            "KeepJobFlowAliveWhenNoSteps": False,
            "TerminationProtected": False,
            **({"Ec2SubnetId": cluster.subnet_id} if cluster.subnet_id else {}),
        },
        "BootstrapActions": [
            {
                "Name": "install-python-deps",
                "ScriptBootstrapAction": {"Path": f"{base}/install-python-deps.sh", "Args": [f"{base}/requirements.txt", env.emr.python]},
            }
        ],
        "Configurations": configurations,
        "Steps": [
            emr_step(job, env.name, window, artifacts, action_on_failure="CANCEL_AND_WAIT" if dependents.get(job) else "CONTINUE")
            for job in jobs
        ],
        "AutoTerminationPolicy": {"IdleTimeout": cluster.idle_timeout_minutes * 60},
        "ServiceRole": cluster.service_role,
        "JobFlowRole": cluster.instance_profile,
        "VisibleToAllUsers": True,
        "Tags": [
            {"Key": "etl:run", "Value": name},
            {"Key": "etl:first-day", "Value": str(window.first)},
            {"Key": "etl:last-day", "Value": str(window.last)},
        ],
    }


def merged(files: Sequence[list[dict[str, Any]]], shown: str) -> list[dict[str, Any]]:
    """One Configurations list of several: a classification that several files have is one entry whose
    properties (and nested configurations) are merged; the same property with two values is an error."""
    by_class: dict[str, dict[str, Any]] = {}
    for configurations in files:
        for item in configurations:
            classification = item["Classification"]
            into = by_class.setdefault(classification, {"Classification": classification, "Properties": {}})
            for key, value in item.get("Properties", {}).items():
                if into["Properties"].get(key, value) != value:
                    raise ConfigError(f"{shown}: emr.cluster.configurations: {classification} sets {key} to two values")
                into["Properties"][key] = value
            if "Configurations" in item:
                into["Configurations"] = merged([into.get("Configurations", []), item["Configurations"]], shown)
    return list(by_class.values())


def _configuration(folder: Path, name: str, shown: str) -> list[dict[str, Any]]:
    path = folder / f"{name}.json"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in folder.glob("*.json")))
        raise ConfigError(f"{shown}: emr.cluster.configurations: no {name}.json in bootstrap/configurations (known: {known})")
    loaded: list[dict[str, Any]] = json.loads(path.read_text())
    return loaded


def _require_outliving_metastore(env: EnvConfig, configurations: list[dict[str, Any]], shown: str) -> None:
    """The tables must outlive the cluster: its own metastore would die with it."""
    if env.metastore.kind == "thrift":
        return  # a metastore service elsewhere
    properties = {(item["Classification"], key) for item in configurations for key in item.get("Properties", {})}
    if env.metastore.kind == "cluster" and properties & set(OUTLIVING_METASTORES):
        return
    raise ConfigError(
        f"{shown}: emr.cluster.configurations: the tables would die with the cluster: add glue-data-catalog "
        "(the Glue Data Catalog) or external-hive-metastore (a metastore database on RDS), with metastore.kind: cluster"
    )


def _log_uri(env: EnvConfig, shown: str) -> str:
    """emr.cluster.log_uri, else <lake_root>/emr-logs/ (on S3: EMR writes its logs there)."""
    if env.emr.cluster.log_uri:
        return env.emr.cluster.log_uri
    if not env.lake_root.startswith("s3://"):
        raise ConfigError(f"{shown}: emr.cluster.log_uri: needed where the lake is not on S3 ({env.lake_root})")
    return f"{env.lake_root.rstrip('/')}/emr-logs/"


def _group(name: str, role: str, instance_type: str, count: int) -> dict[str, Any]:
    return {"Name": name, "InstanceRole": role, "InstanceType": instance_type, "InstanceCount": count, "Market": "ON_DEMAND"}


def create_cluster_command(request: dict[str, Any]) -> list[list[str]]:
    """The same request as the AWS CLI's `aws emr create-cluster` options, which take no RunJobFlow JSON
    (no --cli-input-json; awscli v1 has no run-job-flow): [["aws", "emr", "create-cluster"], [option,
    value...]...]. A key of the request that has no option here is an error, never left out."""
    request, instances = dict(request), dict(request["Instances"])
    del request["Instances"]
    groups = instances.pop("InstanceGroups")
    if any(group.get("Market", "ON_DEMAND") != "ON_DEMAND" for group in groups):
        raise ConfigError("aws emr create-cluster: only ON_DEMAND instance groups are written as its options")
    ec2 = {
        "InstanceProfile": request.pop("JobFlowRole"),
        **({"SubnetId": instances.pop("Ec2SubnetId")} if "Ec2SubnetId" in instances else {}),
    }
    options = [
        ["aws", "emr", "create-cluster"],
        ["--name", request.pop("Name")],
        ["--release-label", request.pop("ReleaseLabel")],
        ["--log-uri", request.pop("LogUri")],
        ["--applications", _json(request.pop("Applications"))],
        [
            "--instance-groups",
            _json(
                [
                    {key: group[field] for key, field in _GROUP_FIELDS.items()}  # ON_DEMAND: create-cluster's, without a BidPrice
                    for group in groups
                ]
            ),
        ],
        ["--no-auto-terminate" if instances.pop("KeepJobFlowAliveWhenNoSteps") else "--auto-terminate"],
        ["--termination-protected" if instances.pop("TerminationProtected") else "--no-termination-protected"],
        ["--ec2-attributes", _json(ec2)],
        ["--service-role", request.pop("ServiceRole")],
        [
            "--bootstrap-actions",
            _json([{"Name": action["Name"], **action["ScriptBootstrapAction"]} for action in request.pop("BootstrapActions")]),
        ],
        ["--configurations", _json(request.pop("Configurations"))],
        ["--steps", _json([cli_step(step) for step in request.pop("Steps")])],
        ["--auto-termination-policy", _json(request.pop("AutoTerminationPolicy"))],
        ["--visible-to-all-users" if request.pop("VisibleToAllUsers") else "--no-visible-to-all-users"],
        ["--tags", *(f"{tag['Key']}={tag['Value']}" for tag in request.pop("Tags"))],
    ]
    left = sorted(request) + sorted(f"Instances.{key}" for key in instances)
    if left:
        raise ConfigError(f"aws emr create-cluster: no option written for {', '.join(left)}")
    return options


def shell_command(options: Sequence[Sequence[str]]) -> str:
    """A command for sh, one option a line."""
    return " \\\n  ".join(" ".join(shlex.quote(word) for word in option) for option in options)


_GROUP_FIELDS = {"Name": "Name", "InstanceGroupType": "InstanceRole", "InstanceType": "InstanceType", "InstanceCount": "InstanceCount"}


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
