"""Business rules that drop rows, by name, so that the run can count them.

A transform that filters rows out (bots, test orders, cancelled lines) marks them instead:

    pageviews = drop_where(pageviews, "bot_traffic", F.col("user_agent").rlike("(?i)bot|crawler"))

The framework removes marked rows before validation and loading, and counts them per rule in the audit
log, so rows read = rows loaded + rows quarantined + rows dropped by each named rule. A row matched by
several rules counts under the first.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from etl.config.models import identifier

DROPPED_BY = "_etl_dropped_by"
_RULES = "etl.drop_rules"  # the column's metadata: the names of the rules, so that the run counts each


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
