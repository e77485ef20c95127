"""Clickstream analytics from CloudFront access logs.

fact_pageviews  one row per page view of the run's days, partitioned by event_date
sessions        per visitor, cut after `session_timeout_minutes` without a page view; partitioned by
                session_date, the day the session started
funnel_daily    per session_date and funnel step: the sessions and visitors that reached it

A page view is a GET of an HTML page that answered 200 or 304; every other request (assets, errors,
HEAD, POST) is dropped by the rule `not_a_page_view`, and crawlers by `bot_traffic` (or kept and
flagged, as `bots` says). A session that starts before midnight and goes on after it belongs to the day
it started and is still one session: the run for day D also reads the days before (`earlier_logs`),
recomputes the sessions that started on D-1 (now with their events after midnight) and rewrites that
day's sessions and funnel.

A purchase's revenue is the `total` of its URL, exactly: a total that is no amount of decimal(12,2)
(letters, a third decimal place, too many digits) quarantines the page view and its session by the rule
`total_not_an_amount`, and a session whose revenue adds up beyond decimal(12,2) is quarantined by
`revenue_out_of_range`: never a null revenue loaded (ANSI SQL off) or a failed run (on).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, time, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from etl.context import RunContext
from etl.job import Job
from etl.transform.rules import drop_where, quarantine_where
from etl.transform.sessionize import sessionize

MONEY = "decimal(12,2)"
# The texts a decimal(12,2) holds exactly: up to ten digits before the point and two after.
AMOUNT = r"^[+-]?([0-9]{1,10}([.][0-9]{0,2})?|[.][0-9]{1,2})$"
MONEY_LIMIT = 10**10  # what decimal(12,2) holds: |amount| < 10^(12-2)
UNREADABLE_TOTAL = "total_not_an_amount"
PURCHASE_PAGE = "/checkout/complete"
RATE = "decimal(7,4)"
# The funnel, in order: a session reaches a step when it has a page view of that step.
FUNNEL = ["visit", "product_view", "add_to_cart", "checkout", "purchase"]


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    session_timeout_minutes: int = Field(30, gt=0)
    bot_user_agents: str = Field(description="Java regex: a user agent it finds is a crawler.")
    bots: Literal["drop", "flag"] = Field("drop", description="drop crawler page views (rule bot_traffic), or load them flagged.")


def page_step(path: Column, query: Column) -> Column:
    """The funnel step a page is (null for other pages)."""
    return (
        F.when(path == "/checkout/complete", "purchase")
        .when(path == "/checkout", "checkout")
        .when((path == "/cart") & query.rlike(r"(^|&)added="), "add_to_cart")
        .when(path.startswith("/product/"), "product_view")
    )


def query_value(query: Column, name: str) -> Column:
    """A parameter of a URL query string, decoded (null when absent)."""
    found = F.regexp_extract(query, rf"(?:^|&){name}=([^&]*)", 1)
    return F.when(found != "", F.url_decode(found))


def amount(text: Column) -> Column:
    """The decimal(12,2) the text says exactly; null when it says none."""
    return F.when(text.rlike(AMOUNT), text.cast(MONEY))


def unreadable_total(page: Column, query: Column) -> Column:
    """Whether a page is a purchase whose URL's total is there but is no amount."""
    total = query_value(query, "total")
    return (page == PURCHASE_PAGE) & total.isNotNull() & amount(total).isNull()


def page_views(logs: DataFrame, params: Params) -> DataFrame:
    """Every request as a page-view row, with whether it is a page view at all and whether a crawler made it."""
    is_bot = F.coalesce(F.col("user_agent").rlike(params.bot_user_agents), F.lit(False))
    cookie = F.regexp_extract("cookie", r"(?:^|;\s*)visitor_id=([^;]+)", 1)
    anonymous = F.concat(F.lit("anon-"), F.substring(F.sha2(F.concat_ws("|", "client_ip", "user_agent"), 256), 1, 16))
    page = (
        (F.col("method") == "GET")
        & F.col("status").isin(200, 304)
        & F.coalesce(F.col("content_type").startswith("text/html"), F.lit(False))
    )
    return logs.select(
        F.col("dt").alias("event_date"),
        F.col("request_time").alias("event_time"),
        F.when(cookie != "", cookie).otherwise(anonymous).alias("visitor_id"),
        "request_id",
        F.col("uri_stem").alias("page"),
        F.col("uri_query").alias("query"),
        page_step(F.col("uri_stem"), F.coalesce("uri_query", F.lit(""))).alias("step"),
        F.when(F.col("uri_stem") == PURCHASE_PAGE, amount(query_value(F.col("uri_query"), "total"))).alias("revenue"),
        "referrer",
        "user_agent",
        "client_ip",
        "edge_location",
        "status",
        is_bot.alias("is_bot"),
        page.alias("is_page_view"),
    )


def human_page_views(views: DataFrame) -> DataFrame:
    return views.where(F.col("is_page_view") & ~F.col("is_bot"))


def fact_rows(views: DataFrame, params: Params) -> DataFrame:
    """The rows of fact_pageviews: requests that are not page views dropped by the rule not_a_page_view,
    and crawlers' by bot_traffic (or kept, flagged by is_bot, as params.bots says)."""
    views = drop_where(views, "not_a_page_view", ~F.col("is_page_view"))
    if params.bots == "drop":
        views = drop_where(views, "bot_traffic", F.col("is_bot"))
    return quarantine_where(views, UNREADABLE_TOTAL, unreadable_total(F.col("page"), F.col("query"))).drop("is_page_view")


def sessions_of(views: DataFrame, timeout_seconds: int) -> DataFrame:
    """Human page views (with session_id) -> one row per session; a session with a purchase whose total is
    no amount is quarantined (its revenue is not known)."""
    ordered = F.struct("event_time", "request_id")
    sessions = (
        views.groupBy("session_id", "visitor_id")
        .agg(
            F.to_date(F.min("session_start")).alias("session_date"),
            F.min("event_time").alias("session_start"),
            F.max("event_time").alias("session_end"),
            (F.max("event_time").cast("long") - F.min("event_time").cast("long")).alias("duration_seconds"),
            F.count(F.lit(1)).alias("page_count"),
            F.min_by("page", ordered).alias("landing_page"),
            F.max_by("page", ordered).alias("exit_page"),
            *(F.max(F.col("step") == step).alias(f"reached_{step}") for step in FUNNEL[1:]),
            F.coalesce(F.sum("revenue"), F.lit(0)).alias("revenue"),  # decimal(22,2): exact
            F.max(unreadable_total(F.col("page"), F.col("query"))).alias(UNREADABLE_TOTAL),
        )
        .select(
            "session_id",
            "visitor_id",
            "session_date",
            "session_start",
            "session_end",
            "duration_seconds",
            "page_count",
            "landing_page",
            "exit_page",
            F.coalesce(F.col("reached_purchase"), F.lit(False)).alias("converted"),
            F.when(_fits(F.col("revenue")), F.col("revenue").cast(MONEY)).alias("revenue"),
            *(F.coalesce(F.col(f"reached_{step}"), F.lit(False)).alias(f"reached_{step}") for step in FUNNEL[1:-1]),
            UNREADABLE_TOTAL,
        )
    )
    sessions = quarantine_where(sessions, UNREADABLE_TOTAL, F.col(UNREADABLE_TOTAL)).drop(UNREADABLE_TOTAL)
    return quarantine_where(sessions, "revenue_out_of_range", F.col("revenue").isNull())


def _fits(amount: Column) -> Column:
    """Whether an exact amount fits decimal(12,2)."""
    return F.abs(amount) < F.lit(MONEY_LIMIT)


def funnel_daily(sessions: DataFrame) -> DataFrame:
    """Per session_date and step: sessions and visitors reaching it; conversion from the first step and from the previous one."""
    reached = {"visit": F.lit(True), **{step: F.col(f"reached_{step}") for step in FUNNEL[1:-1]}, "purchase": F.col("converted")}
    counts = sessions.groupBy("session_date").agg(
        *(F.count_if(reached[step]).alias(f"sessions_{step}") for step in FUNNEL),
        *(F.count_distinct(F.when(reached[step], F.col("visitor_id"))).alias(f"visitors_{step}") for step in FUNNEL),
    )
    steps = [
        F.struct(
            F.lit(number).alias("step_number"),
            F.lit(step).alias("step"),
            F.col(f"sessions_{step}").alias("sessions"),
            F.col(f"visitors_{step}").alias("visitors"),
            _rate(F.col(f"sessions_{step}"), F.col("sessions_visit")).alias("conversion_from_visit"),
            _rate(F.col(f"sessions_{step}"), F.col(f"sessions_{FUNNEL[max(number - 2, 0)]}")).alias("conversion_from_previous"),
        )
        for number, step in enumerate(FUNNEL, start=1)
    ]
    # one aggregation, its row per day then unfolded into a row per step
    return counts.select("session_date", F.explode(F.array(*steps)).alias("funnel")).select("session_date", "funnel.*")


def _rate(part: Column, whole: Column) -> Column:
    """part / whole, exact, rounded half up to 4 places; null when whole is 0."""
    return F.when(whole > 0, F.round(part.cast("decimal(20,0)") / whole.cast("decimal(20,0)"), 4).cast(RATE))


class ClickstreamSessions(Job):
    Params = Params

    def transform(self, ctx: RunContext, sources: Mapping[str, DataFrame]) -> dict[str, DataFrame]:
        params: Params = self.params
        timeout = params.session_timeout_minutes * 60
        views = page_views(sources["access_logs"], params)
        # The days before, from `timeout` before the previous day began: enough to know which of that day's
        # early page views continue a session of the day before it.
        previous_day = datetime.combine(ctx.window.first - timedelta(days=1), time())
        earlier = page_views(sources["earlier_logs"], params).where(F.col("event_time") >= F.lit(previous_day - timedelta(seconds=timeout)))
        humans = human_page_views(views.unionByName(earlier))
        sessioned = sessionize(humans, "visitor_id", "event_time", timeout, tie_break="request_id")
        sessions = sessions_of(sessioned, timeout).where(F.col("session_date") >= F.lit(previous_day.date()))
        in_window = sessioned.where(F.col("event_date") >= F.lit(ctx.window.first)).select("request_id", "session_id")
        fact = fact_rows(views, params).join(in_window, "request_id", "left")
        return {"fact_pageviews": fact, "sessions": sessions}

    def derive(self, ctx: RunContext, loaded: Mapping[str, DataFrame]) -> dict[str, DataFrame]:
        return {"funnel_daily": funnel_daily(loaded["sessions"])}
