"""The validation report: one self-contained HTML page per run, next to Great Expectations' JSON results.

    <dq>/<job>/run_date=D/<run_id>/<target>.json    Great Expectations' result, one per validated target
    <dq>/<job>/run_date=D/<run_id>/report.html      this page: every target and expectation of the run

The page is computed from the stored JSON alone (plus what the run folder's path and the job's config
say), so `etl report` can render it for a run that has JSON but no page (a run from before reports
existed, or one whose page could not be written) and both give the same page. It holds no scripts,
no external CSS and no links: it opens from a local disk, an S3 download or an email attachment
alike. Every value is HTML-escaped, because values come from the data.
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from string import Template
from typing import Any, Protocol

from pyspark.sql import SparkSession

from etl.config.models import EnvConfig, JobConfig
from etl.context import RunContext
from etl.errors import EtlError
from etl.quality.suite import GE_SEVERITY
from etl.quality.validate import ValidationResult, outcome_of, overall_status
from etl.spark_internals import fs
from etl.zones import Zones, join, local_path

log = logging.getLogger(__name__)

REPORT_NAME = "report.html"
SAMPLE_SIZE = 5  # unexpected values shown per expectation (Great Expectations keeps up to 20)
_OUR_SEVERITY = {ge: ours for ours, ge in GE_SEVERITY.items()}


@dataclass(frozen=True)
class RunInfo:
    """What the page says about the run itself; everything else comes from the JSON results."""

    job: str
    run_id: str
    run_date: str
    env: str
    window: str | None = None  # "1992-01-01..1992-03-31"; None when rendered later from the JSON, which does not hold it
    tables: Mapping[str, str] = field(default_factory=dict)  # target -> table, from the job's config


# --- the page ---------------------------------------------------------------------------------------


def render_report(run: RunInfo, results: Mapping[str, Mapping[str, Any]]) -> str:
    """The page of one run: `results` maps each target to its Great Expectations result (the stored JSON, parsed)."""
    judged = {target: judge(target, result) for target, result in results.items()}
    status = overall_status(judged.values())
    return PAGE.substitute(
        title=_e(f"Validation report: {run.job}, run date {run.run_date} ({status})"),
        status=_e(status),
        summary=_summary(run, status),
        targets="\n".join(_target(target, results[target], judged[target], run.tables.get(target)) for target in results),
        ge_version=_e(_ge_version(results)),
    )


def judge(target: str, result: Mapping[str, Any]) -> ValidationResult:
    """The stored JSON as a ValidationResult, so that statuses are decided exactly as the run decided them."""
    outcomes = [outcome_of(item) for item in result.get("results", [])]
    return ValidationResult(target=target, suite=suite_of(target, result), outcomes=outcomes, ge_result=dict(result))


def suite_of(target: str, result: Mapping[str, Any]) -> str:
    """Our suite name: the validator names Great Expectations' suite `<suite>:<target>`."""
    name = str(result.get("suite_name") or "")
    return name.removesuffix(f":{target}") or name


def _summary(run: RunInfo, status: str) -> str:
    rows = [
        ("job", "Job", _e(run.job)),
        ("run-id", "Run id", _e(run.run_id)),
        ("run-date", "Run date", _e(run.run_date)),
        ("window", "Window", _e(run.window) if run.window else '<span class="na">not recorded</span>'),
        ("env", "Env", _e(run.env)),
        ("status", "Status", f'<span class="status {_e(status)}">{_e(status)}</span>'),
    ]
    return "\n".join(f'<tr><th>{label}</th><td id="{key}">{value}</td></tr>' for key, label, value in rows)


def _target(target: str, result: Mapping[str, Any], judged: ValidationResult, table: str | None) -> str:
    stats = result.get("statistics") or {}
    items = result.get("results", [])
    rows = _first([(item.get("result") or {}).get("element_count") for item in items])
    return TARGET.substitute(
        target=_e(target),
        suite=_e(judged.suite),
        status=_e(judged.status),
        table=_e(table) if table else '<span class="na">unknown</span>',
        rows=_e(_count(rows)),
        met=_e(_count(stats.get("successful_expectations"))),
        evaluated=_e(_count(stats.get("evaluated_expectations", len(items)))),
        expectations="\n".join(_expectation(item) for item in items),
    )


def _expectation(item: Mapping[str, Any]) -> str:
    config = item.get("expectation_config") or {}
    details = item.get("result") or {}
    raised = item.get("exception_info") or {}
    kwargs = {k: v for k, v in (config.get("kwargs") or {}).items() if k != "batch_id"}
    outcome = "passed" if item.get("success") else "failed"
    ge_severity = str(config.get("severity"))
    severity = (config.get("meta") or {}).get("severity") or _OUR_SEVERITY.get(ge_severity, ge_severity)
    if raised.get("raised_exception"):
        note = f"error: {raised.get('exception_message')}"
    else:
        note = f"observed: {_text(details['observed_value'])}" if "observed_value" in details else ""
    sample = "".join(
        f'<code class="unexpected-value">{_e(_text(v))}</code>' for v in (details.get("partial_unexpected_list") or [])[:SAMPLE_SIZE]
    )
    cells = [
        ("type", _e(config.get("type"))),
        ("kwargs", "".join(f'<span class="kwarg">{_e(k)}={_e(_text(v))}</span>' for k, v in kwargs.items())),
        ("severity", _e(severity)),
        ("outcome", _e(outcome)),
        ("element-count", _e(_count(details.get("element_count")))),
        ("unexpected-count", _e(_count(details.get("unexpected_count")))),
        ("unexpected-percent", _e(_percent(details.get("unexpected_percent")))),
        ("unexpected-values", sample),
        ("note", _e(note)),
    ]
    tds = "".join(f'<td class="{name}">{value}</td>' for name, value in cells)
    attributes = f'data-expectation="{_e(config.get("type"))}" data-kwargs="{_e(json.dumps(kwargs, sort_keys=True, default=str))}"'
    return f'<tr class="expectation {outcome} severity-{_e(severity)}" {attributes}>{tds}</tr>'


def _ge_version(results: Mapping[str, Mapping[str, Any]]) -> str:
    versions = {str((result.get("meta") or {}).get("great_expectations_version")) for result in results.values()}
    return ", ".join(sorted(versions - {"None"})) or "unknown"


def _e(value: Any) -> str:
    """Every value on the page goes through here: they come from the data."""
    return html.escape("" if value is None else str(value), quote=True)


def _text(value: Any) -> str:
    """Strings as they are, everything else (numbers, lists, null, a compound key's dict) as JSON."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def _count(value: Any) -> str:
    return "—" if value is None else str(value)


def _percent(value: Any) -> str:
    """Two decimals without trailing zeros (25%, 90.74%, 99.99%); below 0.01% three significant digits,
    so that one bad row in millions shows as 0.000123% rather than as 0%."""
    if value is None:
        return "—"
    percent = float(value)
    text = f"{percent:.3g}" if 0 < percent < 0.01 else f"{percent:.2f}".rstrip("0").rstrip(".")
    return f"{text}%"


def _first(values: Sequence[Any]) -> Any:
    return next((value for value in values if value is not None), None)


# A small template; $-placeholders are filled with escaped text only. No scripts, no external resources.
PAGE = Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>$title</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
thead th { background: #f3f3f3; }
td.element-count, td.unexpected-count, td.unexpected-percent { text-align: right; }
code { background: #f6f6f6; padding: 0 0.2em; white-space: pre-wrap; }
code.unexpected-value { margin-right: 0.3em; }
span.kwarg { display: block; }
.status { font-weight: bold; text-transform: uppercase; }
.status.passed, tr.passed td.outcome { color: #1a7f37; }
.status.warned, tr.failed.severity-warn td.outcome { color: #9a6700; }
.status.failed, tr.failed.severity-error td.outcome { color: #cf222e; }
tr.failed.severity-error { background: #ffebe9; }
tr.failed.severity-warn { background: #fff8c5; }
.na { color: #888; }
footer { color: #888; font-size: 0.9em; }
</style>
</head>
<body class="status-$status">
<h1>Validation report</h1>
<table id="run">
$summary
</table>
$targets
<footer>Great Expectations $ge_version. Results: the .json files next to this page.</footer>
</body>
</html>
""")

TARGET = Template("""<section class="target" id="target-$target" data-target="$target" data-suite="$suite" data-status="$status">
<h2>$target <span class="status $status">$status</span></h2>
<p>Table <code class="table">$table</code>, suite <code class="suite">$suite</code>: $rows rows, $met of $evaluated expectations met.</p>
<table class="expectations">
<thead><tr><th>Expectation</th><th>Arguments</th><th>Severity</th><th>Outcome</th><th>Rows</th><th>Unexpected</th>
<th>Unexpected %</th><th>Unexpected values (sample)</th><th>Observed / error</th></tr></thead>
<tbody>
$expectations
</tbody>
</table>
</section>""")


# --- where the pages are ----------------------------------------------------------------------------


def day_uri(zones: Zones, job: str, run_date: date | str) -> str:
    """<dq>/<job>/run_date=D: one folder per run of that day below it."""
    return zones.uri("dq", job, f"run_date={run_date}")


def write_report(spark: SparkSession, ctx: RunContext, config: JobConfig, results: Sequence[ValidationResult]) -> str | None:
    """The job's page, next to its JSON; returns its URI. A page that cannot be written does not fail
    the load (None): the JSON is the record, and `etl report` renders the page from it."""
    uri = join(day_uri(ctx.zones, ctx.job, ctx.run_date), ctx.run_id, REPORT_NAME)
    try:
        run = RunInfo(ctx.job, ctx.run_id, str(ctx.run_date), ctx.env, str(ctx.window), _tables(config))
        stored = {result.target: json.loads(result.to_json()) for result in results}  # as the JSON files hold it: the same page either way
        fs.write_text(spark, uri, render_report(run, stored))
        return uri
    except Exception as error:
        log.error("could not write the validation report %s: %s: %s", uri, type(error).__name__, error)
        return None


class Store(Protocol):
    """The few file operations finding a report needs, on file:// or through Hadoop (s3://, hdfs://)."""

    def folders(self, uri: str) -> list[str]: ...
    def files(self, uri: str) -> list[str]: ...
    def read_text(self, uri: str) -> str: ...
    def write_text(self, uri: str, text: str) -> None: ...


class LocalStore:
    """A file:// dq zone, read without starting Spark: `etl report` answers in a blink on a laptop."""

    def _path(self, uri: str) -> Path:
        path = local_path(uri)
        if path is None:
            raise ValueError(f"not a file:// URI: {uri}")
        return path

    def folders(self, uri: str) -> list[str]:
        path = self._path(uri)
        return sorted(p.name for p in path.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))) if path.is_dir() else []

    def files(self, uri: str) -> list[str]:
        path = self._path(uri)
        return sorted(p.name for p in path.iterdir() if p.is_file() and not p.name.startswith(("_", "."))) if path.is_dir() else []

    def read_text(self, uri: str) -> str:
        return self._path(uri).read_text(encoding="utf-8")

    def write_text(self, uri: str, text: str) -> None:
        self._path(uri).write_text(text, encoding="utf-8")


class HadoopStore:
    """Any dq zone Spark's Hadoop file systems reach (s3:// on EMR and through S3A, hdfs://, file://)."""

    def __init__(self, spark: SparkSession) -> None:
        self.spark = spark

    def folders(self, uri: str) -> list[str]:
        return fs.list_folders(self.spark, uri)

    def files(self, uri: str) -> list[str]:
        return fs.list_files(self.spark, uri)

    def read_text(self, uri: str) -> str:
        return fs.read_text(self.spark, uri)

    def write_text(self, uri: str, text: str) -> None:
        fs.write_text(self.spark, uri, text)


def store_for(uri: str, session: Callable[[], SparkSession]) -> Store:
    """Plain files for a local zone; otherwise Hadoop, through the session (started only then)."""
    return LocalStore() if local_path(uri) is not None else HadoopStore(session())


def locate_report(store: Store, config: JobConfig, env: EnvConfig, run_date: date) -> str:
    """The URI of the newest run's page for that day: the last run folder (run ids sort by start time)
    holding results. A run with JSON but no page gets its page rendered from the JSON now."""
    day = day_uri(Zones.from_env(env), config.name, run_date)
    for run_id in reversed(store.folders(day)):
        folder = join(day, run_id)
        names = store.files(folder)
        if REPORT_NAME in names:
            return join(folder, REPORT_NAME)
        stored = [name for name in names if name.endswith(".json")]
        if stored:
            return _render_stored(store, folder, stored, RunInfo(config.name, run_id, str(run_date), env.name, tables=_tables(config)))
    raise EtlError(f"no validation report for {config.name} on {run_date} under {day}")


def _render_stored(store: Store, folder: str, names: list[str], run: RunInfo) -> str:
    """Render and store the page of a run from its JSON files, targets in the job's order."""
    targets = {name.removesuffix(".json"): name for name in names}
    order = [t for t in run.tables if t in targets] + sorted(t for t in targets if t not in run.tables)
    results = {target: json.loads(store.read_text(join(folder, targets[target]))) for target in order}
    uri = join(folder, REPORT_NAME)
    store.write_text(uri, render_report(run, results))
    return uri


def _tables(config: JobConfig) -> dict[str, str]:
    return {name: target.table for name, target in config.targets.items()}
