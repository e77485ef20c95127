"""Demo raw landing data: a small shop's CloudFront access logs, as CloudFront delivers them.

Layout (a contract other tools read), under <raw>/clickstream/:
  dt=YYYY-MM-DD/<distribution>.YYYY-MM-DD-HH.<id>.gz   one gzip file per hour with requests
Each file is CloudFront's standard log format: `#Version: 1.0`, `#Fields: ...` (the 33 documented fields),
then one tab-separated line per request, `-` for an empty value, date and time in UTC, the user agent,
referrer and cookie URL-encoded.

The traffic: returning visitors (each with a cookie, a browser and an address) browse the home page,
categories and products, add to the cart, check out and sometimes buy; every page pulls a few assets;
some pages are missing (404); crawlers walk the site without cookies; a few lines are broken. A visit
that starts late in the evening goes on after midnight, into the next day's files. Everything is drawn
from random generators seeded per day, so a day's files do not depend on the range asked for.
"""

from __future__ import annotations

import base64
import gzip
import random
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from urllib.parse import quote

from pyspark.sql import SparkSession

from etl.context import DateWindow
from etl.extract.cloudfront import FIELDS_LINE
from etl.spark_internals import fs
from etl.zones import Zones

FIRST_DAY = date(2024, 6, 1)
LAST_DAY = date(2024, 6, 7)
VISITORS_PER_DAY_AT_SCALE_1 = 20_000

DISTRIBUTION = "E2DEMOSHOP7K3Q"
HOST = "d1demoshop7k3q.cloudfront.net"
SITE = "shop.example.com"

CATEGORIES = ["shoes", "jackets", "bags", "hats", "socks"]
PRODUCTS = {f"sku-{n:03d}": (CATEGORIES[n % len(CATEGORIES)], 9 + (n * 37) % 140 + 0.99) for n in range(1, 61)}
BROWSERS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
]
CRAWLERS = [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "python-requests/2.31.0",
]
REFERRERS = ["-", "-", "https://www.google.com/", "https://www.bing.com/", "https://duckduckgo.com/", "https://www.instagram.com/"]
EDGES = ["IAD89-C1", "FRA56-P5", "NRT57-P2", "LHR61-C2", "GRU3-C1"]
MISSING_PAGE = "/product/sku-999"  # a product that is gone: 404
ASSETS = [("/static/app.css", "text/css"), ("/static/app.js", "application/javascript")]


@dataclass(frozen=True)
class Visitor:
    cookie: str
    user_agent: str
    ip: str


@dataclass(frozen=True)
class Request:
    at: datetime
    visitor: Visitor | None  # None: a crawler without cookie
    user_agent: str
    ip: str
    method: str
    path: str
    query: str = ""
    status: int = 200
    content_type: str = "text/html"
    referrer: str = "-"


@dataclass(frozen=True)
class ClickstreamSummary:
    days: int
    files: int
    lines: int
    malformed: int

    def __str__(self) -> str:
        return f"{self.lines} log lines ({self.malformed} malformed) in {self.files} files over {self.days} days"


def generate(
    spark: SparkSession, zones: Zones, scale: float, window: DateWindow, seed: int = 7, say: Callable[[str], None] = print
) -> ClickstreamSummary:
    root = zones.uri("raw", "clickstream")
    per_day = max(1, round(VISITORS_PER_DAY_AT_SCALE_1 * scale))
    files = lines = malformed = 0
    with tempfile.TemporaryDirectory(prefix="etl-demo-") as scratch:
        landing = Path(scratch)
        for day in window.days():
            say(f"access logs of {day}")
            requests = [r for r in _sessions_starting(day - timedelta(days=1), per_day, seed) if r.at.date() == day]
            requests += [r for r in _sessions_starting(day, per_day, seed) if r.at.date() == day]
            requests += _crawls(day, seed)
            rng = random.Random(f"{seed}:clickstream-lines:{day}")
            by_hour: dict[int, list[str]] = {}
            for request in sorted(requests, key=lambda r: r.at):
                line = _log_line(request, rng)
                if rng.random() < 0.004:
                    line, malformed = _broken(line, rng), malformed + 1
                by_hour.setdefault(request.at.hour, []).append(line)
            folder = landing / f"dt={day}"
            folder.mkdir()
            for hour, hour_lines in sorted(by_hour.items()):
                name = f"{DISTRIBUTION}.{day}-{hour:02d}.{rng.getrandbits(32):08x}.gz"
                header = f"#Version: 1.0\n{FIELDS_LINE}\n"
                (folder / name).write_bytes(gzip.compress((header + "\n".join(hour_lines) + "\n").encode(), mtime=0))
                files, lines = files + 1, lines + len(hour_lines)
        fs.delete(spark, root)
        fs.copy_from_local(spark, landing, root)
    return ClickstreamSummary(days=sum(1 for _ in window.days()), files=files, lines=lines, malformed=malformed)


def _visitors(per_day: int, seed: int) -> list[Visitor]:
    """The site's audience: five times a day's visitors, who come back on other days."""
    rng = random.Random(f"{seed}:clickstream-visitors")
    return [
        Visitor(
            f"v{rng.getrandbits(48):012x}",
            rng.choice(BROWSERS),
            f"{rng.randint(11, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
        )
        for _ in range(per_day * 5)
    ]


def _sessions_starting(day: date, per_day: int, seed: int) -> Iterator[Request]:
    """The requests of the visits that start on `day` (some go on after midnight)."""
    rng = random.Random(f"{seed}:clickstream-visits:{day}")
    for visitor in rng.sample(_visitors(per_day, seed), per_day):
        start = datetime.combine(day, time()) + timedelta(seconds=rng.randrange(86_400))
        yield from _visit(visitor, start, rng)
        if rng.random() < 0.2:  # back later the same day: a second visit
            yield from _visit(visitor, start + timedelta(minutes=rng.randint(45, 300)), rng)


def _visit(visitor: Visitor, start: datetime, rng: random.Random) -> Iterator[Request]:
    """One visit: a landing page, then browsing; product -> cart -> checkout -> purchase as some do."""
    at, cart = start, []
    page, query = rng.choice([("/", ""), (f"/category/{rng.choice(CATEGORIES)}", ""), (f"/product/{rng.choice(list(PRODUCTS))}", "")])
    referrer = rng.choice(REFERRERS)
    for _ in range(rng.randint(1, 12)):
        yield from _page(visitor, at, page, query, referrer, rng)
        referrer = f"https://{SITE}{page}"
        # mostly seconds to minutes between pages; sometimes a long read just under the 30-minute timeout
        at += timedelta(seconds=rng.randint(1_500, 1_790) if rng.random() < 0.05 else rng.randint(5, 240))
        sku = page.removeprefix("/product/") if page.startswith("/product/") and page != MISSING_PAGE else None
        if sku and rng.random() < 0.3:
            cart.append(sku)
            page, query = "/cart", f"added={sku}"
        elif page == "/cart" and rng.random() < 0.5:
            page, query = "/checkout", ""
        elif page == "/checkout" and rng.random() < 0.7:
            total = sum(PRODUCTS[item][1] for item in cart)
            yield from _page(visitor, at, "/checkout/complete", f"order=o{rng.getrandbits(40):010x}&total={total:.2f}", referrer, rng)
            return
        else:
            page, query = rng.choice(
                [("/", ""), (f"/category/{rng.choice(CATEGORIES)}", ""), (f"/product/{rng.choice(list(PRODUCTS))}", "")]
            )
            if rng.random() < 0.03:
                page = MISSING_PAGE


def _page(visitor: Visitor, at: datetime, page: str, query: str, referrer: str, rng: random.Random) -> Iterator[Request]:
    status = 404 if page == MISSING_PAGE else 200
    yield Request(at, visitor, visitor.user_agent, visitor.ip, "GET", page, query, status, "text/html", referrer)
    for path, content_type in rng.sample(ASSETS, rng.randint(0, 2)):
        yield Request(at, visitor, visitor.user_agent, visitor.ip, "GET", path, "", 200, content_type, f"https://{SITE}{page}")
    if page.startswith("/product/") and status == 200:
        yield Request(
            at, visitor, visitor.user_agent, visitor.ip, "GET", f"/img/{page.removeprefix('/product/')}.jpg", "", 200, "image/jpeg"
        )


def _crawls(day: date, seed: int) -> list[Request]:
    """Crawlers: no cookie, many pages a few seconds apart, robots.txt first."""
    rng = random.Random(f"{seed}:clickstream-crawls:{day}")
    requests = []
    for agent in rng.sample(CRAWLERS, rng.randint(1, len(CRAWLERS))):
        ip = f"66.249.{rng.randint(64, 95)}.{rng.randint(1, 254)}"
        at = datetime.combine(day, time()) + timedelta(seconds=rng.randrange(80_000))
        pages = [
            "/robots.txt",
            *(
                rng.choice(["/", *(f"/category/{c}" for c in CATEGORIES), *(f"/product/{p}" for p in PRODUCTS)])
                for _ in range(rng.randint(20, 60))
            ),
        ]
        for page in pages:
            content_type = "text/plain" if page == "/robots.txt" else "text/html"
            requests.append(Request(at, None, agent, ip, "GET", page, "", 200, content_type))
            at += timedelta(seconds=rng.randint(1, 20))
            if at.date() != day:
                break
    return requests


def _log_line(request: Request, rng: random.Random) -> str:
    """One line of CloudFront's standard log, its 33 fields in order."""
    cookie = f"visitor_id={request.visitor.cookie}; consent=yes" if request.visitor else "-"
    size = rng.randint(300, 90_000)
    request_id = base64.urlsafe_b64encode(rng.randbytes(42)).decode()
    result = rng.choice(["Hit", "Miss", "RefreshHit"]) if request.status == 200 else "Error"
    fields = [
        request.at.strftime("%Y-%m-%d"),
        request.at.strftime("%H:%M:%S"),
        rng.choice(EDGES),
        str(size),
        request.ip,
        request.method,
        HOST,
        quote(request.path),
        str(request.status),
        _encoded(request.referrer),
        _encoded(request.user_agent),
        request.query or "-",
        _encoded(cookie),
        result,
        request_id,
        SITE,
        "https",
        str(rng.randint(80, 600)),
        f"{rng.uniform(0.001, 0.9):.3f}",
        "-",
        "TLSv1.3",
        "TLS_AES_128_GCM_SHA256",
        result,
        "HTTP/2.0",
        "-",
        "-",
        str(rng.randint(1024, 65535)),
        f"{rng.uniform(0.001, 0.5):.3f}",
        result,
        request.content_type,
        str(size - 250),
        "-",
        "-",
    ]
    return "\t".join(fields)


def _encoded(value: str) -> str:
    """As CloudFront writes header values: URL-encoded (spaces as %20), '-' when absent."""
    return value if value == "-" else quote(value, safe="/:;,()+=.!*'~-_")


def _broken(line: str, rng: random.Random) -> str:
    """A line as a truncated delivery or a misbehaving edge might leave it."""
    kind = rng.choice(["truncated", "bad_time", "bad_status"])
    fields = line.split("\t")
    if kind == "truncated":
        return "\t".join(fields[: rng.randint(3, 20)])
    if kind == "bad_time":
        fields[1] = "25:61:07"
    else:
        fields[8] = "OK"
    return "\t".join(fields)
