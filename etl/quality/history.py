"""A job's run-history page, `<dq>/<job>/history.html`, beside its run reports:

    <dq>/<job>/history.html                         this page: the job's recent runs, from the audit table
    <dq>/<job>/run_date=D/<run_id>/report.html      each run's validation report, linked from its row

A row per run (newest first: date, status, duration, rows loaded, quarantine rate, validation, error, a
relative link to the run's report when it has one) and charts over the run date of the duration, the rows
loaded and the quarantine rate. The charts are drawn with matplotlib (the `report` extra) as SVG, inlined
with their text kept as text: no scripts, no external resources, so the page opens from a local disk or
an S3 download alike. The page is a function of the audit rows and of which runs have a report; every
value on it is HTML-escaped, because values come from the data.
"""

from __future__ import annotations

import io
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, timedelta
from string import Template
from typing import Any

from etl.errors import EtlError
from etl.quality.page_text import escape, percent
from etl.quality.report import REPORT_NAME, Store, day_uri
from etl.runs import duration, run_dates, totals
from etl.state.audit import RunRecord
from etl.zones import Zones, join, local_path

HISTORY_NAME = "history.html"
COLORS = {"succeeded": "#1a7f37", "failed": "#cf222e"}  # any other status (running): OTHER
OTHER = "#9a6700"


@dataclass(frozen=True)
class Night:
    """One run as the page shows it."""

    run_id: str
    run_date: date
    dates: str  # the run date, or first..last of a backfill
    status: str
    started: str
    duration: str
    seconds: float | None  # None: the run has not ended
    loaded: int | None  # None: the run counted nothing
    quarantine_rate: float | None  # percent of the rows read that were quarantined (malformed lines too)
    validation: str
    error: str
    report: str | None  # the run's report, relative to the page


def nights(runs: Sequence[RunRecord], reported: Collection[str]) -> list[Night]:
    """The runs as given (newest first); `reported` holds the run ids whose report.html exists."""
    return [_night(run, run.run_id in reported) for run in runs]


def _night(run: RunRecord, reported: bool) -> Night:
    counted = totals(run)
    read, loaded, quarantined, _ = counted if counted is not None else (0, 0, 0, 0)
    return Night(
        run_id=run.run_id,
        run_date=run.run_date,
        dates=run_dates(run),
        status=run.status,
        started=run.started_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        duration=duration(run),
        seconds=None if run.ended_at is None else (run.ended_at - run.started_at).total_seconds(),
        loaded=None if counted is None else loaded,
        quarantine_rate=100 * quarantined / read if read else None,
        validation=run.validation,
        error=run.error or "",
        report=f"run_date={run.run_date}/{run.run_id}/{REPORT_NAME}" if reported else None,
    )


# --- the page ---------------------------------------------------------------------------------------


def render_history(job: str, env: str, runs: Sequence[RunRecord], reported: Collection[str]) -> str:
    """The page of a job's runs (newest first); `reported`: the run ids that have a report.html."""
    shown = nights(runs, reported)
    oldest_first = list(reversed(shown))
    seconds = [(n.run_date, n.seconds, n.status) for n in oldest_first if n.seconds is not None]
    in_minutes = any(value >= 120 for _, value, _ in seconds)
    days = sorted({n.run_date for n in shown})  # every chart spans them all, so that they line up
    charts = [
        _chart(
            "duration",
            "Duration",
            "minutes" if in_minutes else "seconds",
            [(d, v / 60 if in_minutes else v, s) for d, v, s in seconds],
            days,
            "{:,.1f}" if in_minutes else "{:,.0f}",
        ),
        _chart(
            "rows-loaded", "Rows loaded", "rows", [(n.run_date, n.loaded, n.status) for n in oldest_first if n.loaded is not None], days
        ),
        _chart(
            "quarantine-rate",
            "Quarantine rate",
            "% of rows read",
            [(n.run_date, n.quarantine_rate, n.status) for n in oldest_first if n.quarantine_rate is not None],
            days,
            "{:g}%",
        ),
    ]
    return PAGE.substitute(
        title=escape(f"Run history: {job} ({env})"),
        job=escape(job),
        env=escape(env),
        summary=escape(_summary(shown)),
        charts="\n".join(charts),
        rows="\n".join(_row(night) for night in shown),
    )


def _summary(shown: Sequence[Night]) -> str:
    statuses: dict[str, int] = {}
    for night in shown:
        statuses[night.status] = statuses.get(night.status, 0) + 1
    counted = ", ".join(f"{count} {status}" for status, count in statuses.items())
    first, last = min(n.run_date for n in shown), max(n.run_date for n in shown)
    plural = "s" if len(shown) != 1 else ""
    return f"The last {len(shown)} run{plural}, run dates {first} to {last}: {counted}. Newest: {shown[0].status} ({shown[0].dates})."


def _row(night: Night) -> str:
    link = f'<a href="{escape(night.report)}">report</a>' if night.report else '<span class="na">none</span>'
    cells = [
        ("run-date", escape(night.dates)),
        ("status", f'<span class="status {escape(night.status)}">{escape(night.status)}</span>'),
        ("started", escape(night.started)),
        ("duration", escape(night.duration)),
        ("loaded", escape("—" if night.loaded is None else f"{night.loaded:,}")),
        ("quarantine-rate", escape(percent(night.quarantine_rate))),
        ("validation", escape(night.validation)),
        ("error", escape(night.error)),
        ("report", link),
    ]
    tds = "".join(f'<td class="{name}">{value}</td>' for name, value in cells)
    return f'<tr class="run {escape(night.status)}" data-run-id="{escape(night.run_id)}" data-status="{escape(night.status)}">{tds}</tr>'


def _chart(
    key: str, title: str, unit: str, points: Sequence[tuple[date, float | int | None, str]], days: list[date], ticks: str = "{:,.0f}"
) -> str:
    """One chart as inline SVG in a <figure>: a point per run at its run date, coloured by status."""
    svg = _svg(key, title, unit, [(d, float(v), s) for d, v, s in points if v is not None], days, ticks)
    return (
        f'<figure class="chart" id="chart-{key}">\n{svg}\n'
        f"<figcaption>{escape(title)} ({escape(unit)}) by run date; red points: failed runs.</figcaption>\n</figure>"
    )


def _svg(key: str, title: str, unit: str, points: Sequence[tuple[date, float, str]], days: list[date], ticks: str) -> str:
    """`days`: the run dates of the page, sorted (the x axis of every chart); the points in <g id="points-KEY">."""
    matplotlib = _matplotlib()
    from matplotlib.dates import date2num
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    # Text stays text (the browser draws it, and it can be found); a fixed salt: the same rows, the same SVG.
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "etl-history", "font.size": 9}):
        figure = Figure(figsize=(6, 2.4), layout="constrained")
        axes = figure.add_subplot()
        axes.set_title(title)
        axes.set_xlabel("run date")
        axes.set_ylabel(unit)
        shown = _ticks(days)
        axes.set_xticks([float(date2num(day)) for day in shown], labels=[str(day) for day in shown])  # x: days as numbers
        axes.tick_params(axis="x", labelrotation=30)
        first, last = float(date2num(days[0])), float(date2num(days[-1]))
        pad = max((last - first) / 20, 0.5)
        axes.set_xlim(first - pad, last + pad)
        if points:
            at = [float(date2num(d)) for d, _, _ in points]
            axes.plot(at, [v for _, v, _ in points], color="#8c959f", linewidth=1, zorder=1)
            axes.scatter(at, [v for _, v, _ in points], c=[COLORS.get(s, OTHER) for _, _, s in points], s=18, zorder=2, gid=f"points-{key}")
            axes.set_ylim(bottom=0, top=max(max(v for _, v, _ in points) * 1.1, 1))
        else:
            axes.text(0.5, 0.5, "no run counted this", ha="center", va="center", transform=axes.transAxes)
        axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: ticks.format(value)))
        axes.grid(axis="y", color="#eee")
        out = io.StringIO()
        figure.savefig(out, format="svg", metadata={"Date": None})
    text = out.getvalue()
    return text[text.index("<svg") :]  # without the XML prolog and doctype: inline in HTML


def _ticks(days: list[date], most: int = 8) -> list[date]:
    """Every run date, or, when there are more than `most`, evenly spaced days from the first."""
    if len(days) <= most:
        return days
    span = (days[-1] - days[0]).days
    step = -(-span // (most - 1))  # rounded up
    return [days[0] + timedelta(days=offset) for offset in range(0, span + 1, step)]


def _matplotlib() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise EtlError("the history page draws its charts with matplotlib, which is not installed: pip install 'emr-etl[report]'") from None
    return matplotlib


# --- where the page goes --------------------------------------------------------------------------------


def history_uri(zones: Zones, job: str) -> str:
    return zones.uri("dq", job, HISTORY_NAME)


def write_history(store: Store, zones: Zones, job: str, env: str, runs: Sequence[RunRecord]) -> str:
    """Write the page beside the job's run reports and return its URI."""
    _matplotlib()  # before listing anything
    reported = {run.run_id for run in runs if REPORT_NAME in store.files(join(day_uri(zones, job, run.run_date), run.run_id))}
    uri = history_uri(zones, job)
    folder = local_path(join(zones.dq, job))
    if folder is not None:  # a job whose runs all failed before validating has no folder yet (Hadoop makes it)
        folder.mkdir(parents=True, exist_ok=True)
    store.write_text(uri, render_history(job, env, runs, reported))
    return uri


# A small template; $-placeholders are filled with escaped text and matplotlib's SVG only.
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
td.loaded, td.quarantine-rate, td.duration { text-align: right; white-space: nowrap; }
td.run-date, td.started { white-space: nowrap; }
td.error { max-width: 40em; overflow-wrap: anywhere; }
#charts { display: flex; flex-wrap: wrap; gap: 1em; }
figure.chart { margin: 0; }
figure.chart svg { max-width: 100%; height: auto; }
figcaption { color: #666; font-size: 0.9em; }
.status { font-weight: bold; }
.status.succeeded { color: #1a7f37; }
.status.failed { color: #cf222e; }
tr.failed { background: #ffebe9; }
.na { color: #888; }
</style>
</head>
<body>
<h1>Run history: <code id="job">$job</code></h1>
<p>Env <code id="env">$env</code>. <span id="summary">$summary</span></p>
<section id="charts">
$charts
</section>
<table id="runs">
<thead><tr><th>Run date</th><th>Status</th><th>Started (UTC)</th><th>Duration</th><th>Rows loaded</th><th>Quarantine rate</th>
<th>Validation</th><th>Error</th><th>Report</th></tr></thead>
<tbody>
$rows
</tbody>
</table>
<footer>From the audit table etl_audit.job_runs; each run's counts in full: <code>etl runs $job --format json</code>.</footer>
</body>
</html>
""")
