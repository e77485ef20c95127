"""The pieces of clickstream_sessions on lines and events written by hand: the CloudFront log reader,
sessionization, and the page-view rules."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from etl.extract.cloudfront import parse
from etl.extract.malformed import MALFORMED
from etl.extract.strict import REASON
from etl.transform.rules import DROPPED_BY, QUARANTINED_BY
from etl.transform.sessionize import sessionize
from jobs.clickstream_sessions import Params, fact_rows, page_views, sessions_of

# The job's transforms give the same values with ANSI SQL off and on (the ansi fixture, tests/conftest.py).
pytestmark = pytest.mark.usefixtures("ansi")

HEADER = [
    "#Version: 1.0",
    "#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) cs(User-Agent) cs-uri-query "
    "cs(Cookie) x-edge-result-type x-edge-request-id x-host-header cs-protocol cs-bytes time-taken x-forwarded-for ssl-protocol "
    "ssl-cipher x-edge-response-result-type cs-protocol-version fle-status fle-encrypted-fields c-port time-to-first-byte "
    "x-edge-detailed-result-type sc-content-type sc-content-len sc-range-start sc-range-end",
]
# A line of CloudFront's documentation's shape: a crawler whose agent holds a literal + and encoded spaces.
SLACKBOT = (
    "2020-12-10\t02:42:28\tIAD89-C3\t335\t3.92.144.159\tHEAD\tdv5b3tnel772.cloudfront.net\t/rss/ecs-us-east-1.rss\t200\t-\t"
    "Slackbot%201.0%20(+https://api.slack.com/robots)\t-\t-\tMiss\t2kP01Cgw2cMXMKlogaJwkCt7MVHA8Flxtt_ncRESDd9POQpVWSM64w==\t"
    "stop.lying.cloud\thttps\t123\t0.338\t-\tTLSv1.2\tECDHE-RSA-AES128-GCM-SHA256\tMiss\tHTTP/2.0\t-\t-\t61052\t0.000\tMiss\t"
    "application/rss+xml\t2039\t-\t-"
)


def line(**changes: str) -> str:
    """A page view of a browser with a cookie; `changes` replace fields by position (f0 .. f32)."""
    fields = SLACKBOT.split("\t")
    fields[5], fields[7], fields[10], fields[11], fields[12], fields[29] = (
        "GET", "/checkout/complete", "Mozilla/5.0%20(X11;%20Linux)", "order=o1&total=59.90", "visitor_id=v42;%20consent=yes", "text/html"
    )  # fmt: skip
    for key, value in changes.items():
        fields[int(key.removeprefix("f"))] = value
    return "\t".join(fields)


def parsed(spark: SparkSession, lines: list[str]) -> list[dict]:
    frame = spark.createDataFrame([(text,) for text in lines], "value string")
    return [row.asDict() for row in parse(frame).collect()]


def test_a_documented_line_parses_into_typed_decoded_columns(spark: SparkSession) -> None:
    [row] = parsed(spark, [*HEADER, SLACKBOT])
    assert row[MALFORMED] is None
    assert row["request_time"] == datetime(2020, 12, 10, 2, 42, 28)  # UTC, as the session's time zone is
    assert (row["date"], row["time"], row["edge_location"], row["response_bytes"], row["client_ip"]) == (
        date(2020, 12, 10), "02:42:28", "IAD89-C3", 335, "3.92.144.159"
    )  # fmt: skip
    assert (row["method"], row["uri_stem"], row["status"], row["referrer"], row["uri_query"], row["cookie"]) == (
        "HEAD", "/rss/ecs-us-east-1.rss", 200, None, None, None
    )  # fmt: skip
    assert row["user_agent"] == "Slackbot 1.0 (+https://api.slack.com/robots)"  # %20 decoded, the literal + kept
    assert (row["time_taken"], row["client_port"], row["time_to_first_byte"], row["content_type"], row["content_length"]) == (
        0.338, 61052, 0.0, "application/rss+xml", 2039
    )  # fmt: skip
    assert row["range_start"] is None and row["range_end"] is None


@pytest.mark.parametrize(
    "bad, reason",
    [
        ("\t".join(SLACKBOT.split("\t")[:32]), "32 tab-separated fields, not 33"),  # a field short (a truncated delivery)
        (SLACKBOT + "\tnew-field", "34 tab-separated fields, not 33"),
        (SLACKBOT.replace("02:42:28", "25:61:07"), "date and time: '2020-12-10 25:61:07' is no moment of the calendar"),
        (SLACKBOT.replace("\t200\t", "\tOK\t"), "sc-status: 'OK' is not a whole number"),
        (
            SLACKBOT.replace("Slackbot%201.0", "Slackbot%2G1.0"),
            "cs(User-Agent): 'Slackbot%2G1.0%20(+https://api.slack.com/robots)' is not URL-encoded (a % not followed by two hex digits)",
        ),
        (SLACKBOT.replace("2020-12-10", "2020-02-31"), "date and time: '2020-02-31 02:42:28' is no moment of the calendar"),
        (
            "#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status something-new",
            "a #Fields line naming other fields than the 33 of CloudFront's format",
        ),
        ("garbage", "1 tab-separated fields, not 33"),
        (SLACKBOT.replace("2020-12-10", "-"), "date: empty"),
    ],
)
def test_a_line_that_is_not_a_request_of_the_format_keeps_its_text_as_malformed_and_why(spark: SparkSession, bad: str, reason: str) -> None:
    rows = parsed(spark, [*HEADER, bad, SLACKBOT])
    assert [(row[MALFORMED], row[REASON]) for row in rows] == [(bad, reason), (None, None)]
    assert all(value is None for key, value in rows[0].items() if key not in (MALFORMED, REASON))


def test_sessions_are_cut_after_a_gap_longer_than_the_timeout(spark: SparkSession) -> None:
    def at(text: str) -> datetime:
        return datetime.fromisoformat(f"2024-06-01 {text}") if len(text) == 8 else datetime.fromisoformat(text)

    events = [
        ("a", "23:40:00", "r1"),
        ("a", "23:40:00", "r0"),  # same second: the request id orders them
        ("a", "2024-06-02 00:10:00", "r2"),  # exactly 30 minutes later: same session, across midnight
        ("a", "2024-06-02 00:40:01", "r3"),  # 30 minutes and a second: a new session
        ("b", "23:50:00", "r4"),
    ]
    frame = spark.createDataFrame([(v, at(t), r) for v, t, r in events], "visitor string, at timestamp, request string")
    rows = sessionize(frame, "visitor", "at", 1800, tie_break="request").orderBy("request").collect()
    assert [(r.request, r.session_id, r.session_start) for r in rows] == [
        ("r0", "a-20240601T234000", at("23:40:00")),
        ("r1", "a-20240601T234000", at("23:40:00")),
        ("r2", "a-20240601T234000", at("23:40:00")),
        ("r3", "a-20240602T004001", at("2024-06-02 00:40:01")),
        ("r4", "b-20240601T235000", at("23:50:00")),
    ]


def test_page_views_drop_other_requests_and_crawlers_by_name_or_flag_them(spark: SparkSession) -> None:
    lines = [
        line(),  # a page view
        line(f7="/static/app.css", f29="text/css"),  # an asset
        line(f8="404"),  # an error
        line(f5="POST"),
        line(f10="Mozilla/5.0%20(compatible;%20Googlebot/2.1;%20+http://www.google.com/bot.html)", f12="-"),  # a crawler
    ]
    logs = parse(spark.createDataFrame([(text,) for text in lines], "value string")).withColumn("dt", F.lit(date(2020, 12, 10)))
    pattern = "(?i)(bot|crawler)"
    dropping = Params(bot_user_agents=pattern, bots="drop")
    dropped = fact_rows(page_views(logs, dropping), dropping).orderBy("status", "page", "is_bot", DROPPED_BY).collect()
    assert [(r.page, r.status, r[DROPPED_BY]) for r in dropped] == [
        ("/checkout/complete", 200, None),
        ("/checkout/complete", 200, "not_a_page_view"),  # the POST
        ("/checkout/complete", 200, "bot_traffic"),
        ("/static/app.css", 200, "not_a_page_view"),
        ("/checkout/complete", 404, "not_a_page_view"),
    ]
    view = dropped[0]
    assert (view.visitor_id, view.step, str(view.revenue), view.query) == ("v42", "purchase", "59.90", "order=o1&total=59.90")
    flagging = Params(bot_user_agents=pattern, bots="flag")
    flagged = fact_rows(page_views(logs, flagging), flagging).where(F.col("is_bot")).collect()
    assert [(r[DROPPED_BY], r.visitor_id.startswith("anon-")) for r in flagged] == [(None, True)]  # no cookie: ip and agent


def test_a_purchase_whose_total_is_no_amount_quarantines_its_view_and_its_session(spark: SparkSession) -> None:
    totals = ["59.90", "5", "abc", "59.901", "12345678901.00", "-0.5", "%31%2E5", "9999999999.99"]  # "%31%2E5": "1.5", URL-encoded
    lines = [line(f12=f"visitor_id=v{i}", f11=f"order=o{i}&total={total}", f14=f"r{i}") for i, total in enumerate(totals)]
    lines.append(line(f12="visitor_id=v9", f11="order=o9", f14="r9"))  # no total at all: no revenue, nothing wrong
    lines.append(line(f12="visitor_id=v7", f11="order=o10&total=0.01", f14="r10"))  # with v7's: 10000000000.00, too much for a session
    logs = parse(spark.createDataFrame([(text,) for text in lines], "value string")).withColumn("dt", F.lit(date(2020, 12, 10)))
    params = Params(bot_user_agents="(?i)bot")
    views = fact_rows(page_views(logs, params), params)
    found = {r.request_id: (None if r.revenue is None else str(r.revenue), r[QUARANTINED_BY]) for r in views.collect()}
    assert found.pop("r10") == ("0.01", [])
    found = {f"v{key.removeprefix('r')}": value for key, value in found.items()}
    bad = ["total_not_an_amount"]
    assert found == {
        "v0": ("59.90", []),
        "v1": ("5.00", []),
        "v2": (None, bad),
        "v3": (None, bad),  # a third decimal place would be rounded away
        "v4": (None, bad),  # eleven digits before the point: more than decimal(12,2) holds
        "v5": ("-0.50", []),
        "v6": ("1.50", []),
        "v7": ("9999999999.99", []),
        "v9": (None, []),
    }
    sessions = sessions_of(views.withColumn("session_id", F.col("visitor_id")).withColumn("session_start", F.col("event_time")), 1800)
    found = {r.visitor_id: (None if r.revenue is None else str(r.revenue), r[QUARANTINED_BY]) for r in sessions.collect()}
    assert found == {
        "v0": ("59.90", []),
        "v1": ("5.00", []),
        "v2": ("0.00", bad),
        "v3": ("0.00", bad),
        "v4": ("0.00", bad),
        "v5": ("-0.50", []),
        "v6": ("1.50", []),
        "v7": (None, ["revenue_out_of_range"]),
        "v9": ("0.00", []),
    }
