"""The run-history page from hand-made audit rows: its table row by row (expected HTML written by hand),
its charts, its escaping, and where `write_history` puts it and what it links to."""

from __future__ import annotations

import re
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from xml.etree import ElementTree

import pytest

from etl.errors import EtlError
from etl.quality.history import render_history, write_history
from etl.quality.report import LocalStore
from etl.state.audit import RunRecord
from etl.zones import Zones

SCRIPT = "<script>alert('x')</script>"
SVG = "{http://www.w3.org/2000/svg}"


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 1, day, hour, minute, second, tzinfo=UTC)


# Newest first, as the audit table is read: a night that found no input, a rerun that loaded, the
# night's first run that failed validation, and a backfill of two days.
RUNS = [
    RunRecord("sales", "20260104T020000Z-aaaaaaaa", "local", date(1992, 1, 3), date(1992, 1, 3), at(4, 2), "failed", at(4, 2, 0, 12),
              validation="skipped", error=f"source orders: {SCRIPT} & more"),
    RunRecord("sales", "20260103T093000Z-bbbbbbbb", "local", date(1992, 1, 2), date(1992, 1, 2), at(3, 9, 30), "succeeded",
              at(3, 9, 31, 5), rows_read={"lineitem": 6000, "orders": 1500}, rows_malformed={"lineitem": 3, "orders": 0},
              rows_written={"fact_sales": 5985, "agg": 15}, rows_quarantined={"fact_sales": 12}, validation="warned"),
    RunRecord("sales", "20260103T020000Z-cccccccc", "local", date(1992, 1, 2), date(1992, 1, 2), at(3, 2), "failed", at(3, 2, 0, 40),
              rows_read={"lineitem": 6000, "orders": 1500}, validation="failed", error="fact_sales: 1 expectation failed"),
    RunRecord("sales", "20260102T020000Z-dddddddd", "local", date(1992, 1, 1), date(1991, 12, 31), at(2, 2), "succeeded",
              at(2, 2, 3, 20), rows_read={"lineitem": 12000}, rows_written={"fact_sales": 11990},
              rows_quarantined={"fact_sales": 10}, validation="passed"),
]  # fmt: skip
REPORTED = {"20260103T093000Z-bbbbbbbb", "20260103T020000Z-cccccccc", "20260102T020000Z-dddddddd"}


def link(run_date: str, run_id: str) -> str:
    return f'<a href="run_date={run_date}/{run_id}/report.html">report</a>'


def test_a_row_per_run_newest_first() -> None:
    page = render_history("sales", "local", RUNS, REPORTED)
    rows = re.findall(r'<tr class="run .*</tr>', page)
    assert rows == [
        '<tr class="run failed" data-run-id="20260104T020000Z-aaaaaaaa" data-status="failed">'
        '<td class="run-date">1992-01-03</td><td class="status"><span class="status failed">failed</span></td>'
        '<td class="started">2026-01-04 02:00:00</td><td class="duration">12s</td><td class="loaded">—</td>'
        '<td class="quarantine-rate">—</td><td class="validation">skipped</td>'
        '<td class="error">source orders: &lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; more</td>'
        '<td class="report"><span class="na">none</span></td></tr>',
        # (3 malformed + 12 quarantined) of 7,500 read: 0.2%
        '<tr class="run succeeded" data-run-id="20260103T093000Z-bbbbbbbb" data-status="succeeded">'
        '<td class="run-date">1992-01-02</td><td class="status"><span class="status succeeded">succeeded</span></td>'
        '<td class="started">2026-01-03 09:30:00</td><td class="duration">1m 05s</td><td class="loaded">6,000</td>'
        '<td class="quarantine-rate">0.2%</td><td class="validation">warned</td><td class="error"></td>'
        f'<td class="report">{link("1992-01-02", "20260103T093000Z-bbbbbbbb")}</td></tr>',
        '<tr class="run failed" data-run-id="20260103T020000Z-cccccccc" data-status="failed">'
        '<td class="run-date">1992-01-02</td><td class="status"><span class="status failed">failed</span></td>'
        '<td class="started">2026-01-03 02:00:00</td><td class="duration">40s</td><td class="loaded">0</td>'
        '<td class="quarantine-rate">0%</td><td class="validation">failed</td><td class="error">fact_sales: 1 expectation failed</td>'
        f'<td class="report">{link("1992-01-02", "20260103T020000Z-cccccccc")}</td></tr>',
        # 10 of 12,000: 0.0833...%
        '<tr class="run succeeded" data-run-id="20260102T020000Z-dddddddd" data-status="succeeded">'
        '<td class="run-date">1991-12-31..1992-01-01</td><td class="status"><span class="status succeeded">succeeded</span></td>'
        '<td class="started">2026-01-02 02:00:00</td><td class="duration">3m 20s</td><td class="loaded">11,990</td>'
        '<td class="quarantine-rate">0.08%</td><td class="validation">passed</td><td class="error"></td>'
        f'<td class="report">{link("1992-01-01", "20260102T020000Z-dddddddd")}</td></tr>',
    ]
    assert (
        '<span id="summary">The last 4 runs, run dates 1992-01-01 to 1992-01-03: 2 failed, 2 succeeded. Newest: failed (1992-01-03).'
        in page
    )
    assert "<title>Run history: sales (local)</title>" in page


def charts(page: str) -> dict[str, str]:
    return dict(re.findall(r'<figure class="chart" id="chart-([a-z-]+)">\n(<svg.*?</svg>)', page, re.DOTALL))


def labels(svg: str) -> list[str]:
    """The texts of an SVG chart (its text is kept as text)."""
    return [text.strip() for text in re.findall(r"<text[^>]*>([^<]*)</text>", svg)]


def test_three_charts_over_the_run_dates_with_their_axes_labelled() -> None:
    found = charts(render_history("sales", "local", RUNS, REPORTED))
    assert list(found) == ["duration", "rows-loaded", "quarantine-rate"]
    # the backfill took 200 s: durations in minutes
    for key, title, unit in (("duration", "Duration", "minutes"), ("rows-loaded", "Rows loaded", "rows"),
                             ("quarantine-rate", "Quarantine rate", "% of rows read")):  # fmt: skip
        shown = labels(found[key])
        assert {title, unit, "run date"} <= set(shown)
        # every chart spans every run date (ticks at each), also where a run counted nothing
        assert [text for text in shown if text.startswith("199")] == ["1992-01-01", "1992-01-02", "1992-01-03"]
    # a point per run that has a value: 4 durations, 3 counted runs (the night without input counted nothing)
    assert [len(points(found[key], key)) for key in found] == [4, 3, 3]


def points(svg: str, key: str) -> list[ElementTree.Element]:
    [group] = [g for g in ElementTree.fromstring(svg).iter(f"{SVG}g") if g.get("id") == f"points-{key}"]
    return list(group.iter(f"{SVG}use"))


def test_the_page_is_a_function_of_the_rows() -> None:
    assert render_history("sales", "local", RUNS, REPORTED) == render_history("sales", "local", list(RUNS), set(REPORTED))


def test_every_value_is_escaped() -> None:
    page = render_history(SCRIPT, SCRIPT, [RunRecord(**{**RUNS[0].__dict__, "status": SCRIPT, "validation": SCRIPT})], set())
    assert "<script" not in page
    # title (job, env), heading, env, summary (the count of that status, the newest's), the row (class, data-status,
    # status class and text, validation, error), footer
    assert page.count("&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;") == 2 + 1 + 1 + 2 + 6 + 1


def test_without_matplotlib_one_line_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    with pytest.raises(EtlError) as raised:
        write_history(LocalStore(), zones_in(tmp_path), "sales", "local", RUNS)
    assert str(raised.value) == "the history page draws its charts with matplotlib, which is not installed: pip install 'emr-etl[report]'"
    assert list(tmp_path.iterdir()) == []


def zones_in(root: Path) -> Zones:
    uri = root.as_uri()
    return Zones(uri, f"{uri}/raw", f"{uri}/curated", f"{uri}/quarantine", f"{uri}/dq", f"{uri}/checkpoints")


def test_written_beside_the_run_reports_linking_those_that_exist(tmp_path: Path) -> None:
    dq = tmp_path / "dq" / "sales"
    for run in RUNS[1:]:
        (dq / f"run_date={run.run_date}" / run.run_id).mkdir(parents=True)
    for run in (RUNS[1], RUNS[3]):
        (dq / f"run_date={run.run_date}" / run.run_id / "report.html").write_text("<p>report</p>")
    (dq / "run_date=1992-01-02" / RUNS[2].run_id / "fact_sales.json").write_text("{}")  # results, but no page: no link

    uri = write_history(LocalStore(), zones_in(tmp_path), "sales", "local", RUNS)
    assert uri == f"{tmp_path.as_uri()}/dq/sales/history.html"
    page = (dq / "history.html").read_text()
    assert re.findall(r'<a href="([^"]+)">', page) == [
        f"run_date=1992-01-02/{RUNS[1].run_id}/report.html",
        f"run_date=1992-01-01/{RUNS[3].run_id}/report.html",
    ]
    assert page == render_history("sales", "local", RUNS, {RUNS[1].run_id, RUNS[3].run_id})


def test_a_job_without_any_report_gets_its_folder(tmp_path: Path) -> None:
    uri = write_history(LocalStore(), zones_in(tmp_path), "sales", "local", RUNS[:1])
    assert uri == f"{tmp_path.as_uri()}/dq/sales/history.html"
    assert (tmp_path / "dq" / "sales" / "history.html").is_file()
