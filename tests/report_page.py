"""The validation report page read back as a browser's DOM would give it (text only), for the unit and
end-to-end tests: the title, the summary cells by id, the sources read, each target's section with
its row accounting, and the cells of every expectation row by class."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from typing import Any


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.head: dict[str, str] = {}
        self.summary: dict[str, str] = {}
        self.notes: dict[str, str] = {}  # paragraphs with an id: the missing accounting's
        self.sources: list[list[str]] = []  # [source, read, malformed]
        self.sections: list[dict[str, str]] = []
        self.accounting: dict[str, list[tuple[str, ...]]] = {}  # target -> [(what, count, share), ...]
        self.equations: dict[str, str] = {}
        self.rows: list[dict[str, Any]] = []
        self.titles: list[tuple[str, str]] = []  # (text shown, title) of every element with a title
        self._table = ""  # the class (or id) of the table being read
        self._into: tuple[str, Any, Any] | None = None  # (tag, container, key) that text goes to, until the tag ends
        self._titled: list[tuple[str, str, list[str]]] = []  # (tag, title, text) of the open titled elements

    @property
    def title(self) -> str:
        return self.head["title"]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if "title" in a:
            self._titled.append((tag, a["title"], []))
        if self._into:  # text of nested elements (span, code) belongs to the cell
            return
        if tag == "section":
            self.sections.append({"target": a["data-target"], "suite": a["data-suite"], "status": a["data-status"]})
        elif tag == "table":
            self._table = a.get("class") or a.get("id", "")
        elif tag == "tr" and self._table == "accounting" and "class" in a:  # not the header
            self.accounting.setdefault(self.sections[-1]["target"], []).append(())
        elif tag == "tr" and self._table == "sources" and "data-source" in a:
            self.sources.append([])
        elif tag == "tr" and "expectation" in a.get("class", "").split():
            row = {"class": a["class"], "expectation": a["data-expectation"], "kwargs": json.loads(a["data-kwargs"]), "cells": {}}
            self.rows.append({"target": self.sections[-1]["target"], **row})
        elif tag == "title":
            self._collect(tag, self.head, "title")
        elif tag == "p" and "id" in a:
            self._collect(tag, self.notes, a["id"])
        elif tag == "p" and a.get("class") == "equation":
            self._collect(tag, self.equations, self.sections[-1]["target"])
        elif tag == "td" and self._table == "accounting":
            target = self.sections[-1]["target"]
            self.accounting[target][-1] += ("",)
            self._into = (tag, self, ("accounting", target))
        elif tag == "td" and self._table == "sources" and self.sources:
            self.sources[-1].append("")
            self._into = (tag, self, ("sources",))
        elif tag == "td" and "id" in a:
            self._collect(tag, self.summary, a["id"])
        elif tag == "td" and self._table == "expectations" and self.rows and "class" in a:
            self._collect(tag, self.rows[-1]["cells"], a["class"])

    def _collect(self, tag: str, into: dict[str, str], key: str) -> None:
        into[key] = ""
        self._into = (tag, into, key)

    def handle_endtag(self, tag: str) -> None:
        if self._titled and self._titled[-1][0] == tag:
            _, title, text = self._titled.pop()
            self.titles.append(("".join(text), title))
        if self._into and self._into[0] == tag:
            self._into = None
        if tag == "table":
            self._table = ""

    def handle_data(self, data: str) -> None:
        for _, _, text in self._titled:
            text.append(data)
        if not self._into:
            return
        _, into, key = self._into
        if into is self and key[0] == "accounting":
            cells = self.accounting[key[1]]
            cells[-1] = (*cells[-1][:-1], cells[-1][-1] + data)
        elif into is self:
            self.sources[-1][-1] += data
        else:
            into[key] += data


def parse(page: str) -> Page:
    parsed = Page()
    parsed.feed(page)
    return parsed
