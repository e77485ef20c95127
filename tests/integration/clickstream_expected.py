"""What the clickstream tables must hold, computed in plain Python straight from the raw log files (never
with the code under test): the files are unzipped and split here, page views picked by the rules the
job documents, sessions cut by walking each visitor's page views in time order."""

from __future__ import annotations

import gzip
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from urllib.parse import unquote

# The header line CloudFront's documentation gives for standard logs (33 fields).
DOCUMENTED_FIELDS = (
    "#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) cs(User-Agent) "
    "cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header cs-protocol cs-bytes time-taken x-forwarded-for "
    "ssl-protocol ssl-cipher x-edge-response-result-type cs-protocol-version fle-status fle-encrypted-fields c-port "
    "time-to-first-byte x-edge-detailed-result-type sc-content-type sc-content-len sc-range-start sc-range-end"
)
INTEGERS = (3, 8, 17, 26, 30, 31, 32)  # sc-bytes, sc-status, cs-bytes, c-port, sc-content-len, sc-range-start, sc-range-end
DECIMALS = (18, 27)  # time-taken, time-to-first-byte
ENCODED = (7, 9, 10, 12)  # cs-uri-stem, cs(Referer), cs(User-Agent), cs(Cookie)
FUNNEL = ["visit", "product_view", "add_to_cart", "checkout", "purchase"]


@dataclass(frozen=True)
class View:
    day: str  # the folder's dt
    at: datetime
    visitor: str
    request_id: str
    page: str
    query: str | None
    step: str | None
    revenue: Decimal | None


@dataclass
class Logs:
    lines: Counter[str]  # per day: request lines (not the two header lines)
    malformed: Counter[str]
    not_page_views: Counter[str]
    bots: Counter[str]
    views: list[View]  # human page views


def _valid(fields: list[str]) -> bool:
    def number(i: int, pattern: str) -> bool:
        return fields[i] == "-" or re.fullmatch(pattern, fields[i]) is not None

    if len(fields) != 33:
        return False
    try:
        datetime.strptime(f"{fields[0]} {fields[1]}", "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return False
    return (
        all(number(i, r"-?\d+") for i in INTEGERS)
        and all(number(i, r"-?\d+(\.\d+)?") for i in DECIMALS)
        and all(number(i, r"([^%]|%[0-9A-Fa-f]{2})*") for i in ENCODED)
    )


def reason_of(line: str) -> str:
    """Why a broken line of the demo's kinds (a truncated delivery, an impossible time, a status that is
    no number) is no request, in the reader's words."""
    fields = line.split("\t")
    if len(fields) != 33:
        return f"{len(fields)} tab-separated fields, not 33"
    if not re.fullmatch(r"-?\d+", fields[8]):
        return f"sc-status: '{fields[8]}' is not a whole number"
    try:
        datetime.strptime(f"{fields[0]} {fields[1]}", "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return f"date and time: '{fields[0]} {fields[1]}' is no moment of the calendar"
    raise AssertionError(f"not a broken line of the demo's kinds: {line}")


def _step(page: str, query: str | None) -> str | None:
    if page == "/checkout/complete":
        return "purchase"
    if page == "/checkout":
        return "checkout"
    if page == "/cart" and re.search(r"(^|&)added=", query or ""):
        return "add_to_cart"
    return "product_view" if page.startswith("/product/") else None


def read_logs(raw: Path, bot_pattern: str) -> Logs:
    logs = Logs(Counter(), Counter(), Counter(), Counter(), [])
    bots = re.compile(bot_pattern)
    for file in sorted(raw.glob("dt=*/*.gz")):
        day = file.parent.name.removeprefix("dt=")
        text = gzip.decompress(file.read_bytes()).decode()
        assert text.startswith(f"#Version: 1.0\n{DOCUMENTED_FIELDS}\n"), file
        for line in text.splitlines()[2:]:
            logs.lines[day] += 1
            fields = line.split("\t")
            if not _valid(fields):
                logs.malformed[day] += 1
                continue
            null = {i: (None if value == "-" else value) for i, value in enumerate(fields)}
            page_view = null[5] == "GET" and null[8] in ("200", "304") and (null[29] or "").startswith("text/html")
            if not page_view:
                logs.not_page_views[day] += 1
                continue
            agent = unquote(null[10] or "")
            if bots.search(agent):
                logs.bots[day] += 1
                continue
            cookie = re.search(r"(?:^|;\s*)visitor_id=([^;]+)", unquote(null[12] or ""))
            assert cookie, line  # every human visitor of the demo has the cookie
            page, query = unquote(null[7] or ""), null[11]
            total = re.search(r"(?:^|&)total=([^&]*)", query or "") if page == "/checkout/complete" else None
            at = datetime.strptime(f"{fields[0]} {fields[1]}", "%Y-%m-%d %H:%M:%S")
            revenue = Decimal(unquote(total.group(1))).quantize(Decimal("0.01")) if total else None
            logs.views.append(View(day, at, cookie.group(1), fields[14], page, query, _step(page, query), revenue))
    return logs


@dataclass(frozen=True)
class Session:
    session_id: str
    visitor: str
    views: tuple[View, ...]

    @property
    def day(self) -> str:
        return self.views[0].at.date().isoformat()

    def reached(self, step: str) -> bool:
        return step == "visit" or any(view.step == step for view in self.views)


def sessions(views: list[View], timeout_seconds: int) -> list[Session]:
    by_visitor: dict[str, list[View]] = defaultdict(list)
    for view in views:
        by_visitor[view.visitor].append(view)
    found = []
    for seen in by_visitor.values():
        current: list[View] = []
        for view in sorted(seen, key=lambda v: (v.at, v.request_id)):
            if current and (view.at - current[-1].at).total_seconds() > timeout_seconds:
                found.append(current)
                current = []
            current.append(view)
        found.append(current)
    return [Session(f"{s[0].visitor}-{s[0].at:%Y%m%dT%H%M%S}", s[0].visitor, tuple(s)) for s in found]


def session_rows(found: list[Session]) -> list[dict[str, str]]:
    """As `etl sql` prints analytics.sessions (strings), sorted by session_id."""
    rows = []
    for s in found:
        first, last = s.views[0], s.views[-1]
        revenue = sum((v.revenue for v in s.views if v.revenue is not None), Decimal("0.00"))
        rows.append(
            {
                "session_id": s.session_id,
                "visitor_id": s.visitor,
                "session_date": s.day,
                "session_start": first.at.isoformat(),
                "session_end": last.at.isoformat(),
                "duration_seconds": str(int((last.at - first.at).total_seconds())),
                "page_count": str(len(s.views)),
                "landing_page": first.page,
                "exit_page": last.page,
                "converted": str(s.reached("purchase")).lower(),
                "revenue": str(revenue),
                **{f"reached_{step}": str(s.reached(step)).lower() for step in FUNNEL[1:-1]},
            }
        )
    return sorted(rows, key=lambda row: row["session_id"])


def funnel_rows(found: list[Session]) -> list[dict[str, str]]:
    """As `etl sql` prints analytics.funnel_daily, sorted by session_date and step_number."""
    rows = []
    for day in sorted({s.day for s in found}):
        of_day = [s for s in found if s.day == day]
        reaching = {step: [s for s in of_day if s.reached(step)] for step in FUNNEL}
        for number, step in enumerate(FUNNEL, start=1):
            previous = FUNNEL[max(number - 2, 0)]
            rows.append(
                {
                    "session_date": day,
                    "step_number": str(number),
                    "step": step,
                    "sessions": str(len(reaching[step])),
                    "visitors": str(len({s.visitor for s in reaching[step]})),
                    "conversion_from_visit": _rate(len(reaching[step]), len(of_day)),
                    "conversion_from_previous": _rate(len(reaching[step]), len(reaching[previous])),
                }
            )
    return rows


def _rate(part: int, whole: int) -> str:
    return str((Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001"), ROUND_HALF_UP)) if whole else ""


def broken_lines(raw: Path, day: str) -> list[tuple[str, str]]:
    """The lines of a day's log files that are no request of the format, as the files hold them, with
    their file's URI: (line, file), sorted."""
    found = []
    for file in sorted(raw.glob(f"dt={day}/*.gz")):
        for line in gzip.decompress(file.read_bytes()).decode().splitlines()[2:]:
            if not _valid(line.split("\t")):
                found.append((line, f"file://{file}"))  # as Spark names it (as_uri() would escape the =)
    return sorted(found)
