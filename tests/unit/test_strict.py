"""Strict typing of text fields: a value is exactly what its text says in the declared type, or the row is
malformed with the column and the reason. Every expected value below is written by hand from the text."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
from pyspark.sql import SparkSession

from etl.config.models import ColumnSpec
from etl.extract.strict import REASON, typed

# Strict typing gives the same values with ANSI SQL off and on (the ansi fixture, tests/conftest.py).
pytestmark = pytest.mark.usefixtures("ansi")


def judge(spark: SparkSession, kind: str, texts: list[str | None], nullable: bool = False) -> list[tuple]:
    """(text, typed value, reason) for each text in a one-column frame of type `kind`; the value is None
    for a malformed row: it is never loaded, so strict typing does not spend time to null it."""
    frame = spark.createDataFrame([(text, text) for text in texts], "v string, text string")
    rows = typed(frame, {"v": ColumnSpec(type=kind, nullable=nullable)}, ["text"]).collect()
    return [(row.text, row.v if row[REASON] is None else None, row[REASON]) for row in rows]


def test_decimals_load_exactly_or_are_malformed(spark: SparkSession) -> None:
    texts = ["1051.15", "17", "-0.5", "1051,15", "1051.155", "1e3", "12345678901234.00", "abc", " 3.10"]
    assert judge(spark, "decimal(15,2)", texts) == [
        ("1051.15", Decimal("1051.15"), None),
        ("17", Decimal("17.00"), None),
        ("-0.5", Decimal("-0.50"), None),
        ("1051,15", None, "v: '1051,15' is not a decimal(15,2)"),  # a decimal comma, not grouping: never 105115.00
        ("1051.155", None, "v: '1051.155' is not a decimal(15,2)"),  # never rounded to 1051.16
        ("1e3", None, "v: '1e3' is not a decimal(15,2)"),
        ("12345678901234.00", None, "v: '12345678901234.00' is not a decimal(15,2)"),  # 14 digits before the point: too many
        ("abc", None, "v: 'abc' is not a decimal(15,2)"),
        (" 3.10", Decimal("3.10"), None),  # padding around a number does not change it
    ]


def test_integers(spark: SparkSession) -> None:
    assert judge(spark, "int", ["42", "-7", "1.5", "2147483648", "1e3", "seven"]) == [
        ("42", 42, None),
        ("-7", -7, None),
        ("1.5", None, "v: '1.5' is not an int"),
        ("2147483648", None, "v: '2147483648' is not an int"),  # out of range, never wrapped or nulled
        ("1e3", None, "v: '1e3' is not an int"),
        ("seven", None, "v: 'seven' is not an int"),
    ]


def test_dates_are_days_of_the_calendar_in_iso_form(spark: SparkSession) -> None:
    assert judge(spark, "date", ["1992-02-29", "1992-02-30", "1993-02-29", "1992", "1992-2-3", "1992-02-03T10"]) == [
        ("1992-02-29", date(1992, 2, 29), None),
        ("1992-02-30", None, "v: '1992-02-30' is not a date (yyyy-MM-dd)"),
        ("1993-02-29", None, "v: '1993-02-29' is not a date (yyyy-MM-dd)"),
        ("1992", None, "v: '1992' is not a date (yyyy-MM-dd)"),  # Spark's cast would read 1992-01-01
        ("1992-2-3", None, "v: '1992-2-3' is not a date (yyyy-MM-dd)"),
        ("1992-02-03T10", None, "v: '1992-02-03T10' is not a date (yyyy-MM-dd)"),
    ]


def test_timestamps_doubles_and_booleans(spark: SparkSession) -> None:
    assert judge(spark, "timestamp", ["2024-06-01T12:34:56.789Z", "2024-06-01 12:34:56", "2024-06-01T25:00:00Z", "yesterday"]) == [
        ("2024-06-01T12:34:56.789Z", datetime(2024, 6, 1, 12, 34, 56, 789000), None),  # the session's time zone is UTC
        ("2024-06-01 12:34:56", datetime(2024, 6, 1, 12, 34, 56), None),
        ("2024-06-01T25:00:00Z", None, "v: '2024-06-01T25:00:00Z' is not a timestamp (yyyy-MM-ddTHH:mm:ss[.ffffff][zone])"),
        ("yesterday", None, "v: 'yesterday' is not a timestamp (yyyy-MM-ddTHH:mm:ss[.ffffff][zone])"),
    ]
    assert judge(spark, "double", ["21.5", "-1e-3", "1.5d", "NaN", '"Infinity"']) == [
        ("21.5", 21.5, None),
        ("-1e-3", -0.001, None),
        ("1.5d", None, "v: '1.5d' is not a double"),
        ("NaN", None, "v: 'NaN' is not a double"),
        ('"Infinity"', None, "v: '\"Infinity\"' is not a double"),  # JSON's text for a number out of range
    ]
    assert judge(spark, "boolean", ["true", "FALSE", "yes", "1"]) == [
        ("true", True, None),
        ("FALSE", False, None),
        ("yes", None, "v: 'yes' is not a boolean"),
        ("1", None, "v: '1' is not a boolean"),
    ]


@pytest.mark.parametrize("kind", ["string", "bigint", "decimal(15,2)", "date"])
def test_an_empty_field_is_malformed_unless_the_column_is_nullable(spark: SparkSession, kind: str) -> None:
    required = "v: empty (a required column; declare it nullable if it may be empty)"
    empty_text = "" if kind == "string" else None  # an empty string is kept as one; an empty number is none
    assert judge(spark, kind, [None, ""]) == [(None, None, required), ("", None, required)]
    assert judge(spark, kind, [None, ""], nullable=True) == [(None, None, None), ("", empty_text, None)]


def test_text_is_kept_as_it_is(spark: SparkSession) -> None:
    assert judge(spark, "string", ["Café", " padded ", "1,5", "\ufffd"]) == [
        ("Café", "Café", None),
        (" padded ", " padded ", None),
        ("1,5", "1,5", None),
        ("\ufffd", "\ufffd", None),  # the replacement character itself is valid text; invalid bytes are the reader's to find
    ]
