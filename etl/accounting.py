"""The row-accounting invariant: every row read is loaded, quarantined, or dropped by a named rule.

A target declares the source its rows come from one to one (`rows_from`); the run then checks, before
it writes anything, that

    rows read from the source = malformed lines + rows loaded + rows quarantined + rows dropped per rule

A transform that loses rows without naming why (an inner join, a filter not written with drop_where)
or multiplies them (a join on a key that is not unique) breaks the equation, and the run fails.

The run stores its counts (RunRows) beside its validation results, so that the report shows them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field


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


@dataclass(frozen=True)
class SourceRows:
    read: int  # every line read, malformed ones too
    malformed: int | None = None  # None: not counted for this run (no malformed lines kept, or a source of the days before)


@dataclass(frozen=True)
class TargetRows:
    loaded: int
    quarantined: int  # rows failing one quarantine rule or more
    quarantined_by: Mapping[str, int] = field(default_factory=dict)  # per rule, the transform's and the suite's (a row may fail several)
    dropped: Mapping[str, int] = field(default_factory=dict)  # per business rule
    rows_from: str | None = None


@dataclass(frozen=True)
class RunRows:
    """What became of a run's rows: read per source, loaded, quarantined and dropped per target."""

    sources: Mapping[str, SourceRows]
    targets: Mapping[str, TargetRows]

    def account(self, target: str) -> Account | None:
        """The equation of a target with rows_from; None for the others."""
        rows = self.targets[target]
        if rows.rows_from is None:
            return None
        source = self.sources.get(rows.rows_from, SourceRows(0))
        return Account(target, rows.rows_from, source.read, source.malformed or 0, rows.loaded, rows.quarantined, rows.dropped)

    def accounts(self) -> list[Account]:
        return [account for account in map(self.account, self.targets) if account]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> RunRows:
        stored = json.loads(text)
        return cls(
            sources={name: SourceRows(**rows) for name, rows in stored["sources"].items()},
            targets={name: TargetRows(**rows) for name, rows in stored["targets"].items()},
        )
