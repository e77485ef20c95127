"""The validation report: one self-contained HTML page per run, next to Great Expectations' JSON results.

    <dq>/<job>/run_date=D/<run_id>/<target>.json          Great Expectations' result, one per validated target
    <dq>/<job>/run_date=D/<run_id>/row-accounting.json    what became of the run's rows (etl.accounting.RunRows)
    <dq>/<job>/run_date=D/<run_id>/report.html            this page: every target, its rows and its expectations

The page is computed from the stored JSON alone (plus what the run folder's path and the job's config
say), so `etl report` can render it for a run that has JSON but no page (a run from before reports
existed, or one whose page could not be written) and both give the same page. A run from before the
row accounting was stored gets a page without it, which says so. It holds no scripts,
no external CSS and no links: it opens from a local disk, an S3 download or an email attachment
alike. Every value is HTML-escaped, because values come from the data.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from string import Template
from typing import Any, Protocol

from pyspark.sql import SparkSession

from etl.accounting import RunRows
from etl.config.models import EnvConfig, JobConfig
from etl.context import RunContext
from etl.errors import EtlError
from etl.quality.page_text import escape, percent
from etl.quality.suite import GE_SEVERITY
from etl.quality.validate import ValidationResult, outcome_of, overall_status
from etl.quality.wording import plain_words
from etl.spark_internals import fs
from etl.zones import Zones, join, local_path

log = logging.getLogger(__name__)

REPORT_NAME = "report.html"
ROWS_NAME = "row-accounting.json"  # not a target's name: those are identifiers
SAMPLE_SIZE = 5  # unexpected values shown per expectation (Great Expectations keeps up to 20)
SHOWN_CHARACTERS = 40  # of a value (a sample, an argument) before it is cut; the title holds all of it
WORDS_CHARACTERS = 160  # of an expectation in words
NOTE_CHARACTERS = 120  # of an observed value or an error
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


def render_report(run: RunInfo, results: Mapping[str, Mapping[str, Any]], rows: RunRows | None = None) -> str:
    """The page of one run: `results` maps each target to its Great Expectations result (the stored JSON,
    parsed), `rows` says what became of the run's rows (None: not stored, a run from before it was)."""
    judged = {target: judge(target, result) for target, result in results.items()}
    status = overall_status(judged.values())
    targets = [*(rows.targets if rows else []), *(target for target in results if not rows or target not in rows.targets)]
    return PAGE.substitute(
        title=escape(f"Validation report: {run.job}, run date {run.run_date} ({status})"),
        status=escape(status),
        summary=_summary(run, status),
        sources=_sources(rows),
        targets="\n".join(_target(target, results.get(target), judged.get(target), run.tables.get(target), rows) for target in targets),
        ge_version=escape(_ge_version(results)),
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
        ("job", "Job", escape(run.job)),
        ("run-id", "Run id", escape(run.run_id)),
        ("run-date", "Run date", escape(run.run_date)),
        ("window", "Window", escape(run.window) if run.window else '<span class="na">not recorded</span>'),
        ("env", "Env", escape(run.env)),
        ("status", "Status", f'<span class="status {escape(status)}">{escape(status)}</span>'),
    ]
    return "\n".join(f'<tr><th>{label}</th><td id="{key}">{value}</td></tr>' for key, label, value in rows)


def _sources(rows: RunRows | None) -> str:
    """The rows read per source, or why the page cannot say what became of the rows."""
    if rows is None:
        return (
            '<p id="no-accounting" class="na">This run stored no row accounting (runs before it was stored beside the results):'
            " its rows read, loaded, quarantined and dropped are in the audit table etl_audit.job_runs.</p>"
        )
    lines = "\n".join(
        f'<tr data-source="{escape(name)}"><td class="source">{escape(name)}</td><td class="count">{_count(source.read)}</td>'
        f'<td class="count">{_count(source.malformed)}</td></tr>'
        for name, source in rows.sources.items()
    )
    return (
        '<h2>Rows read</h2>\n<table id="sources">\n<thead><tr><th>Source</th><th>Rows read</th>'
        "<th>Malformed (kept raw in quarantine)</th></tr></thead>\n"
        f"<tbody>\n{lines}\n</tbody>\n</table>"
    )


def _target(target: str, result: Mapping[str, Any] | None, judged: ValidationResult | None, table: str | None, rows: RunRows | None) -> str:
    shown_table = escape(table) if table else '<span class="na">unknown</span>'
    accounting = _accounting(target, rows) if rows and target in rows.targets else ""
    if result is None or judged is None:
        return NO_SUITE.substitute(target=escape(target), table=shown_table, accounting=accounting)
    stats = result.get("statistics") or {}
    items = sorted(result.get("results", []), key=_rank)  # failed first, then warnings, then met
    validated = _first([(item.get("result") or {}).get("element_count") for item in items])
    return TARGET.substitute(
        target=escape(target),
        suite=escape(judged.suite),
        status=escape(judged.status),
        table=shown_table,
        rows=_count(validated),
        met=_count(stats.get("successful_expectations")),
        evaluated=_count(stats.get("evaluated_expectations", len(items))),
        accounting=accounting,
        expectations="\n".join(_expectation(item) for item in items),
    )


def _rank(item: Mapping[str, Any]) -> int:
    """0 failed (severity error), 1 failed otherwise (a warning; rows held back), 2 met."""
    if item.get("success"):
        return 2
    return 0 if _severity(item.get("expectation_config") or {}) == "error" else 1


def _severity(config: Mapping[str, Any]) -> str:
    ge_severity = str(config.get("severity"))
    return str((config.get("meta") or {}).get("severity") or _OUR_SEVERITY.get(ge_severity, ge_severity))


def _accounting(target: str, rows: RunRows) -> str:
    """What became of the target's rows: with rows_from, read = malformed + loaded + quarantined + dropped
    per rule (the run's equation, as the audit table holds it); otherwise loaded, quarantined, dropped."""
    counts = rows.targets[target]
    account = rows.account(target)
    lines: list[tuple[str, str, str, int]] = []  # (class, rule, what, rows)
    if account:
        lines += [("read", "", f"read from {account.source}", account.read), ("malformed", "", "malformed", account.malformed)]
    lines += [("loaded", "", "loaded", counts.loaded), ("quarantined", "", "quarantined", counts.quarantined)]
    lines += [("quarantined-by", rule, f"by rule {rule}", found) for rule, found in counts.quarantined_by.items()]
    lines += [("dropped", rule, f"dropped by rule {rule}", found) for rule, found in counts.dropped.items()]
    if account:
        whole, note = account.read, f'<p class="equation"><code>{escape(account.equation())}</code></p>'
    else:
        whole = counts.loaded + counts.quarantined + sum(counts.dropped.values())
        note = "<p class=\"na\">No rows_from: the run does not check this target's rows against a source's.</p>"
    body = "\n".join(
        f'<tr class="{kind}"{f" data-rule={_q(rule)}" if rule else ""}><td class="what">{escape(what)}</td>'
        f'<td class="count">{_count(found)}</td><td class="share">{escape(percent(100 * found / whole if whole else None))}</td></tr>'
        for kind, rule, what, found in lines
    )
    share = "% of read" if account else "% of rows"
    return (
        f'<table class="accounting">\n<thead><tr><th>What became of the rows</th><th>Rows</th><th>{share}</th></tr></thead>\n'
        f"<tbody>\n{body}\n</tbody>\n</table>\n{note}"
    )


def _expectation(item: Mapping[str, Any]) -> str:
    config = item.get("expectation_config") or {}
    details = item.get("result") or {}
    raised = item.get("exception_info") or {}
    kwargs = {k: v for k, v in (config.get("kwargs") or {}).items() if k != "batch_id"}
    outcome = "passed" if item.get("success") else "failed"
    severity = _severity(config)
    if raised.get("raised_exception"):
        note = _cut(f"error: {raised.get('exception_message')}", NOTE_CHARACTERS)
    else:
        note = _cut(f"observed: {_text(details['observed_value'])}", NOTE_CHARACTERS) if "observed_value" in details else ""
    sample = "".join(_sample(value) for value in (details.get("partial_unexpected_list") or [])[:SAMPLE_SIZE])
    definition = f'<code class="type">{escape(config.get("type"))}</code>' + "".join(
        f'<span class="kwarg">{escape(k)}={_cut(_text(v), SHOWN_CHARACTERS)}</span>' for k, v in kwargs.items()
    )
    cells = [
        ("words", _cut(plain_words(str(config.get("type")), kwargs), WORDS_CHARACTERS)),
        ("definition", definition),
        ("severity", escape(severity)),
        ("outcome", escape(outcome)),
        ("element-count", _count(details.get("element_count"))),
        ("unexpected-count", _count(details.get("unexpected_count"))),
        ("unexpected-percent", escape(percent(details.get("unexpected_percent")))),
        ("unexpected-values", sample),
        ("note", note),
    ]
    tds = "".join(f'<td class="{name}">{value}</td>' for name, value in cells)
    attributes = f'data-expectation="{escape(config.get("type"))}" data-kwargs="{escape(json.dumps(kwargs, sort_keys=True, default=str))}"'
    return f'<tr class="expectation {outcome} severity-{escape(severity)}" {attributes}>{tds}</tr>'


def _sample(value: Any) -> str:
    """One unexpected value, readable: null as null, an empty string as (empty), whitespace made visible,
    a long value cut with an ellipsis; the value itself in the title whenever the text shown differs."""
    if value is None:
        return '<code class="unexpected-value null">null</code>'
    if value == "":
        return '<code class="unexpected-value empty" title="an empty string">(empty)</code>'
    return f'<code class="unexpected-value">{_cut(_text(value), SHOWN_CHARACTERS, visible=True)}</code>'


def _cut(text: str, most: int, visible: bool = False) -> str:
    """The text escaped, whitespace made visible if asked, cut to `most` characters with an ellipsis;
    wrapped in a span whose title holds the whole text when the text shown is not the text."""
    shown = _visible_whitespace(text) if visible else text
    if len(shown) > most:
        shown = shown[: most - 1] + "…"
    return escape(shown) if shown == text else f'<span class="cut" title="{escape(text)}">{escape(shown)}</span>'


_WHITESPACE = {"\t": "⇥", "\n": "↵", "\r": "␍", "\u00a0": "⍽"}
_SPACE = "␣"


def _visible_whitespace(text: str) -> str:
    """Tabs, line breaks and non-breaking spaces as signs wherever they are, spaces at either end as ␣,
    other invisible characters as \\uXXXX: "  a\tb " -> "␣␣a⇥b␣"."""
    inner = text.strip(" ")
    start = len(text) - len(text.lstrip(" "))
    shown = "".join(_WHITESPACE.get(c, f"\\u{ord(c):04x}" if not c.isprintable() and c != " " else c) for c in inner)
    return _SPACE * start + shown + _SPACE * (len(text) - start - len(inner)) if inner else _SPACE * len(text)


def _ge_version(results: Mapping[str, Mapping[str, Any]]) -> str:
    versions = {str((result.get("meta") or {}).get("great_expectations_version")) for result in results.values()}
    return ", ".join(sorted(versions - {"None"})) or "unknown"


def _q(value: str) -> str:
    return f'"{escape(value)}"'


def _text(value: Any) -> str:
    """Strings as they are, everything else (numbers, lists, null, a compound key's dict) as JSON."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def _count(value: Any) -> str:
    """12,349: counts with thousands separators; — for none."""
    return "—" if value is None else f"{int(value):,}"


def _first(values: Sequence[Any]) -> Any:
    return next((value for value in values if value is not None), None)


# A small template; $-placeholders are filled with escaped text only. No scripts, no external resources.
# The tables take the page's width and wrap long values inside their cells: no scrolling sideways.
PAGE = Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; overflow-wrap: anywhere; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
thead th { background: #f3f3f3; }
td.count, td.share, td.element-count, td.unexpected-count, td.unexpected-percent { text-align: right; white-space: nowrap; }
table.expectations { width: 100%; table-layout: fixed; font-size: 0.9em; }
table.expectations th, table.expectations td { padding: 0.3em 0.4em; }
col.words { width: 17%; } col.definition { width: 19%; } col.severity, col.outcome, col.unexpected-count, col.unexpected-percent { width: 8%; }
col.element-count { width: 7%; } col.unexpected-values { width: 15%; } col.note { width: 10%; }
table.expectations thead th { font-size: 0.85em; overflow-wrap: normal; }
table.expectations td.element-count, table.expectations td.unexpected-count, table.expectations td.unexpected-percent { white-space: normal; }
code { background: #f6f6f6; padding: 0 0.2em; white-space: pre-wrap; overflow-wrap: anywhere; }
code.unexpected-value { display: inline-block; max-width: 100%; margin: 0 0.3em 0.2em 0; }
code.unexpected-value.null, code.unexpected-value.empty { color: #888; font-style: italic; }
span.kwarg { display: block; font-family: monospace; font-size: 0.9em; }
span.cut { cursor: help; }
tr.quarantined-by td.what { padding-left: 2em; }
.status { font-weight: bold; text-transform: uppercase; }
.status.passed, tr.passed td.outcome { color: #1a7f37; }
.status.warned, tr.failed.severity-warn td.outcome, tr.failed.severity-quarantine td.outcome { color: #9a6700; }
.status.failed, tr.failed.severity-error td.outcome { color: #cf222e; }
tr.failed.severity-error { background: #ffebe9; }
tr.failed.severity-warn, tr.failed.severity-quarantine { background: #fff8c5; }
.na { color: #888; }
footer { color: #888; font-size: 0.9em; }
</style>
</head>
<body class="status-$status">
<h1>Validation report</h1>
<table id="run">
$summary
</table>
$sources
$targets
<footer>Great Expectations $ge_version. Results: the .json files next to this page.</footer>
</body>
</html>
""")

TARGET = Template("""<section class="target" id="target-$target" data-target="$target" data-suite="$suite" data-status="$status">
<h2>$target <span class="status $status">$status</span></h2>
<p>Table <code class="table">$table</code>, suite <code class="suite">$suite</code>: $rows rows validated, $met of $evaluated expectations met.</p>
$accounting
<table class="expectations">
<colgroup><col class="words"><col class="definition"><col class="severity"><col class="outcome"><col class="element-count">
<col class="unexpected-count"><col class="unexpected-percent"><col class="unexpected-values"><col class="note"></colgroup>
<thead><tr><th>Expectation</th><th>As configured</th><th>Severity</th><th>Outcome</th><th>Rows</th><th>Failing</th>
<th>Failing %</th><th>Failing values (sample)</th><th>Observed / error</th></tr></thead>
<tbody>
$expectations
</tbody>
</table>
</section>""")

NO_SUITE = Template("""<section class="target" id="target-$target" data-target="$target" data-suite="" data-status="skipped">
<h2>$target</h2>
<p>Table <code class="table">$table</code>: no expectation suite.</p>
$accounting
</section>""")


# --- where the pages are ----------------------------------------------------------------------------


def day_uri(zones: Zones, job: str, run_date: date | str) -> str:
    """<dq>/<job>/run_date=D: one folder per run of that day below it."""
    return zones.uri("dq", job, f"run_date={run_date}")


def run_folder(ctx: RunContext) -> str:
    """<dq>/<job>/run_date=D/<run_id>: the run's results, row accounting and page."""
    return join(day_uri(ctx.zones, ctx.job, ctx.run_date), ctx.run_id)


def write_report(
    spark: SparkSession, ctx: RunContext, config: JobConfig, results: Sequence[ValidationResult], rows: RunRows | None
) -> str | None:
    """The job's page, next to its JSON; returns its URI. A page that cannot be written does not fail
    the load (None): the JSON is the record, and `etl report` renders the page from it."""
    uri = join(run_folder(ctx), REPORT_NAME)
    try:
        run = RunInfo(ctx.job, ctx.run_id, str(ctx.run_date), ctx.env, str(ctx.window), _tables(config))
        stored = {result.target: json.loads(result.to_json()) for result in results}  # as the JSON files hold it: the same page either way
        fs.write_text(spark, uri, render_report(run, stored, rows))
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
        stored = [name for name in names if name.endswith(".json") and name != ROWS_NAME]
        if stored:
            run = RunInfo(config.name, run_id, str(run_date), env.name, tables=_tables(config))
            return _render_stored(store, folder, stored, run, with_rows=ROWS_NAME in names)
    raise EtlError(f"no validation report for {config.name} on {run_date} under {day}")


def _render_stored(store: Store, folder: str, names: list[str], run: RunInfo, with_rows: bool) -> str:
    """Render and store the page of a run from its JSON files, targets in the job's order."""
    targets = {name.removesuffix(".json"): name for name in names}
    order = [t for t in run.tables if t in targets] + sorted(t for t in targets if t not in run.tables)
    results = {target: json.loads(store.read_text(join(folder, targets[target]))) for target in order}
    rows = RunRows.from_json(store.read_text(join(folder, ROWS_NAME))) if with_rows else None
    uri = join(folder, REPORT_NAME)
    store.write_text(uri, render_report(run, results, rows))
    return uri


def _tables(config: JobConfig) -> dict[str, str]:
    return {name: target.table for name, target in config.targets.items()}
