"""Business rules that drop or quarantine rows, by name, so that the run can count them.

A transform that filters rows out (bots, test orders, cancelled lines) marks them instead:

    pageviews = drop_where(pageviews, "bot_traffic", F.col("user_agent").rlike("(?i)bot|crawler"))

The framework removes marked rows before validation and loading, and counts them per rule in the audit
log, so rows read = rows loaded + rows quarantined + rows dropped by each named rule. A row matched by
several rules counts under the first.

A row the transform cannot compute a value of exactly (a text that is no amount, an overflow: what
ANSI SQL would reject) is quarantined instead, whole, under the rule's name, like a row failing a
quarantine expectation of the target's suite:

    views = quarantine_where(views, "total_not_an_amount", F.col("total").isNotNull() & F.col("revenue").isNull())
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from etl.config.models import identifier

DROPPED_BY = "_etl_dropped_by"
_RULES = "etl.drop_rules"  # the column's metadata: the names of the rules, so that the run counts each
QUARANTINED_BY = "_etl_quarantined_by"  # the names of the rules that quarantine the row (an array)
_QUARANTINE_RULES = "etl.quarantine_rules"


def drop_where(frame: DataFrame, rule: str, condition: Column) -> DataFrame:
    """Mark the rows where condition holds as dropped by `rule` (a null condition drops nothing)."""
    identifier(rule)
    earlier = F.col(DROPPED_BY) if DROPPED_BY in frame.columns else F.lit(None).cast("string")
    rules = [*drop_rules(frame), rule]
    marked = F.coalesce(earlier, F.when(condition, F.lit(rule))).alias(DROPPED_BY, metadata={_RULES: list(dict.fromkeys(rules))})
    return frame.withColumn(DROPPED_BY, marked)


def drop_rules(frame: DataFrame) -> list[str]:
    """The names of the rules that may have dropped rows of frame."""
    if DROPPED_BY not in frame.columns:
        return []
    return list(frame.schema[DROPPED_BY].metadata.get(_RULES, []))


def quarantine_where(frame: DataFrame, rule: str, condition: Column) -> DataFrame:
    """Mark the rows where condition holds as quarantined by `rule` (a null condition quarantines nothing)."""
    identifier(rule)
    earlier = F.col(QUARANTINED_BY) if QUARANTINED_BY in frame.columns else F.array().cast("array<string>")
    rules = [*marked_quarantine_rules(frame), rule]
    marked = F.when(F.coalesce(condition, F.lit(False)), F.concat(earlier, F.array(F.lit(rule)))).otherwise(earlier)
    return frame.withColumn(QUARANTINED_BY, marked.alias(QUARANTINED_BY, metadata={_QUARANTINE_RULES: list(dict.fromkeys(rules))}))


def marked_quarantine_rules(frame: DataFrame) -> list[str]:
    """The names of the rules that may have quarantined rows of frame (quarantine_where's, not the suite's)."""
    if QUARANTINED_BY not in frame.columns:
        return []
    return list(frame.schema[QUARANTINED_BY].metadata.get(_QUARANTINE_RULES, []))
