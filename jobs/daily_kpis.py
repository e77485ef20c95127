"""daily_kpis: the shop's day in one row, from the warehouse's sales and the web analytics' funnel.

daily_kpis  per day: orders, order lines and net revenue (warehouse.agg_sales_daily), sessions,
            visitors and purchases of the web shop (analytics.funnel_daily), and the share of sessions
            that purchased

It runs after sales_warehouse and clickstream_sessions (conf/pipelines/nightly.yaml). A night's
clickstream run also rewrites the day before (visits that went on after midnight), so this job
rewrites the KPIs of that day too.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta

from pydantic import BaseModel, ConfigDict, Field
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from etl.context import RunContext
from etl.job import Job

RATE = "decimal(7,4)"  # as funnel_daily's conversion rates


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    restate_days_before: int = Field(1, ge=0, description="Days before the window whose KPIs the run rewrites.")


def daily_kpis(sales: DataFrame, funnel: DataFrame, first: date, last: date) -> DataFrame:
    """One row per day from first to last that has orders or sessions; a day with one and not the
    other has 0 of the other (both loads ran for it: the pipeline runs this job after them)."""
    day_sales = (
        sales.where(F.col("order_date").between(first, last))
        .groupBy(F.col("order_date").alias("kpi_date"))
        .agg(F.sum("orders").alias("orders"), F.sum("lines").alias("order_lines"), F.sum("net_revenue").alias("net_revenue"))
    )
    visits = funnel.where(F.col("session_date").between(first, last))
    step = {name: visits.where(F.col("step") == name) for name in ("visit", "purchase")}
    day_visits = (
        step["visit"]
        .select(F.col("session_date").alias("kpi_date"), "sessions", "visitors")
        .join(step["purchase"].select(F.col("session_date").alias("kpi_date"), F.col("sessions").alias("purchases")), "kpi_date", "left")
    )
    joined = day_sales.join(day_visits, "kpi_date", "full")
    sessions = F.coalesce("sessions", F.lit(0))
    purchases = F.coalesce("purchases", F.lit(0))
    return joined.select(
        "kpi_date",
        F.coalesce("orders", F.lit(0)).cast("bigint").alias("orders"),
        F.coalesce("order_lines", F.lit(0)).cast("bigint").alias("order_lines"),
        F.coalesce("net_revenue", F.lit(0)).alias("net_revenue"),
        sessions.cast("bigint").alias("sessions"),
        F.coalesce("visitors", F.lit(0)).cast("bigint").alias("visitors"),
        purchases.cast("bigint").alias("purchases"),
        # exact, rounded half up to 4 places, as funnel_daily's rates; null without sessions
        F.when(sessions > 0, F.round(purchases.cast("decimal(20,0)") / sessions.cast("decimal(20,0)"), 4).cast(RATE)).alias(
            "conversion_rate"
        ),
    )


class DailyKpis(Job):
    Params = Params

    def transform(self, ctx: RunContext, sources: Mapping[str, DataFrame]) -> dict[str, DataFrame]:
        first = ctx.window.first - timedelta(days=self.params.restate_days_before)
        return {"daily_kpis": daily_kpis(sources["sales"], sources["funnel"], first, ctx.window.last)}
