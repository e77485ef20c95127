"""The row-accounting invariant: every row read is loaded, quarantined, or dropped by a named rule.

A target declares the source its rows come from one to one (`rows_from`); the run then checks, before
it writes anything, that

    rows read from the source = malformed lines + rows loaded + rows quarantined + rows dropped per rule

A transform that loses rows without naming why (an inner join, a filter not written with drop_where)
or multiplies them (a join on a key that is not unique) breaks the equation, and the run fails.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Account:
    target: str
    source: str
    read: int
    malformed: int
    loaded: int
    quarantined: int
    dropped: Mapping[str, int] = field(default_factory=dict)

    @property
    def accounted(self) -> int:
        return self.malformed + self.loaded + self.quarantined + sum(self.dropped.values())

    @property
    def balanced(self) -> bool:
        return self.read == self.accounted

    def equation(self) -> str:
        """'fact_sales: 10 read from lineitem = 1 malformed + 7 loaded + 1 quarantined + 1 dropped (test_order 1)'"""
        dropped = ", ".join(f"{rule} {rows}" for rule, rows in self.dropped.items())
        terms = f"{self.malformed} malformed + {self.loaded} loaded + {self.quarantined} quarantined + {sum(self.dropped.values())} dropped"
        terms += f" ({dropped})" if dropped else ""
        if self.balanced:
            return f"{self.target}: {self.read} read from {self.source} = {terms}"
        gap = self.read - self.accounted
        problem = f"{gap} row(s) unaccounted for" if gap > 0 else f"{-gap} row(s) more than were read"
        return f"{self.target}: {self.read} read from {self.source} but {terms} = {self.accounted}: {problem}"


def failure_line(accounts: list[Account]) -> str:
    unbalanced = [account.equation() for account in accounts if not account.balanced]
    return (
        "row accounting does not add up, nothing was written: "
        + "; ".join(unbalanced)
        + " (a transform that removes rows must name the rule with etl.transform.rules.drop_where)"
    )
