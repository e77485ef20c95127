"""The daily_kpis transform on tiny inline data; expected values worked out by hand."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from chispa import assert_df_equality
from pyspark.sql import SparkSession

from etl.schema import struct
from jobs.daily_kpis import daily_kpis

pytestmark = pytest.mark.usefixtures("ansi")

D = Decimal
J1, J2, J3, J4 = date(1992, 1, 1), date(1992, 1, 2), date(1992, 1, 3), date(1992, 1, 4)

SALES = struct({"order_date": "date", "nation": "string", "market_segment": "string", "orders": "bigint", "lines": "bigint",
                "net_revenue": "decimal(28,4)"})  # fmt: skip
FUNNEL = struct({"session_date": "date", "step_number": "int", "step": "string", "sessions": "bigint", "visitors": "bigint"})
KPIS = struct(
    {
        "kpi_date": "date",
        "orders": "bigint",
        "order_lines": "bigint",
        "net_revenue": "decimal(38,4)",
        "sessions": "bigint",
        "visitors": "bigint",
        "purchases": "bigint",
        "conversion_rate": "decimal(7,4)",
    }
)


def funnel_day(day: date, visit: tuple[int, int], purchase: tuple[int, int]) -> list[tuple]:
    return [(day, 1, "visit", *visit), (day, 2, "product_view", visit[0] - 1, visit[1] - 1), (day, 5, "purchase", *purchase)]


def test_a_row_per_day_with_sales_or_sessions_and_zero_for_the_side_without(spark: SparkSession) -> None:
    sales = spark.createDataFrame(
        [
            (J1, "FRANCE", "BUILDING", 2, 5, D("100.5000")),
            (J1, "KENYA", "BUILDING", 1, 1, D("0.2500")),
            (J2, "FRANCE", "HOUSEHOLD", 3, 7, D("999.9999")),
            (J4, "FRANCE", "HOUSEHOLD", 9, 9, D("1.0000")),  # outside the window
        ],
        SALES,
    )
    funnel = spark.createDataFrame(
        [*funnel_day(J1, (3, 2), (1, 1)), *funnel_day(J3, (7, 5), (0, 0)), *funnel_day(J4, (9, 9), (9, 9))], FUNNEL
    )
    expected = spark.createDataFrame(
        [
            (J1, 3, 6, D("100.7500"), 3, 2, 1, D("0.3333")),  # 1/3 rounded half up
            (J2, 3, 7, D("999.9999"), 0, 0, 0, None),  # no sessions: no rate
            (J3, 0, 0, D("0.0000"), 7, 5, 0, D("0.0000")),
        ],
        KPIS,
    )
    actual = daily_kpis(sales, funnel, J1, J3)
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_a_rate_of_two_thirds_rounds_half_up_and_a_day_without_either_has_no_row(spark: SparkSession) -> None:
    funnel = spark.createDataFrame(funnel_day(J2, (3, 3), (2, 1)), FUNNEL)
    expected = spark.createDataFrame([(J2, 0, 0, D("0.0000"), 3, 3, 2, D("0.6667"))], KPIS)
    assert_df_equality(daily_kpis(spark.createDataFrame([], SALES), funnel, J1, J2), expected, ignore_nullable=True)
