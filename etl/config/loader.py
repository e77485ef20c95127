"""Read YAML config files, interpolate ${VARS}, merge overlays and validate into typed models.

Every error names the file and the dotted key it came from, so a typo in
conf/env/emr.yaml reads "conf/env/emr.yaml: spark.mastr: unknown key ...",
not a KeyError deep inside a job.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from etl.errors import ConfigError

Key = tuple[str | int, ...]
Model = TypeVar("Model", bound=BaseModel)

# ${NAME} or ${NAME:-default}; the default may be empty, and may hold ${...} itself.
_NAME = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(\}|:-)")


def dotted(key: Key) -> str:
    """('spark', 'conf', 3) -> 'spark.conf[3]'."""
    text = ""
    for part in key:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "(top level)"


def read_yaml(path: Path, shown_as: str) -> dict[str, Any]:
    """Parse one YAML file (safe_load only) whose top level must be a mapping."""
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{shown_as}: file not found") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ConfigError(f"{shown_as}: not valid YAML{where}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{shown_as}: the top level must be a mapping of keys, not {type(data).__name__}")
    return data


def interpolate(value: Any, shown_as: str, key: Key = (), environ: Mapping[str, str] | None = None, unset: list[str] | None = None) -> Any:
    """Replace ${VAR} and ${VAR:-default} in every string of a parsed YAML tree.

    An unset ${VAR} without default is an error, unless `unset` is given: then it is noted
    there and replaced by <VAR> (for checking config that is meant for another machine).
    """
    environ = os.environ if environ is None else environ
    if isinstance(value, dict):
        return {k: interpolate(v, shown_as, (*key, k), environ, unset) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, shown_as, (*key, i), environ, unset) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def substitute(name: str, default: str | None) -> str:
        if name in environ and environ[name] != "":
            return environ[name]
        if default is not None:
            return _expand(default, substitute)
        if unset is not None:
            unset.append(f"{shown_as}: {dotted(key)} needs ${name}")
            return f"<{name}>"
        raise ConfigError(f"{shown_as}: {dotted(key)}: environment variable {name} is not set (and no ${{{name}:-default}} is given)")

    return _expand(value, substitute)


def _expand(text: str, substitute: Callable[[str, str | None], str]) -> str:
    """text with each ${NAME} or ${NAME:-default} replaced by substitute(NAME, default or None); a default
    runs to its matching brace, so it may hold references of its own. Text that is no reference stays."""
    out, at = [], 0
    while (start := text.find("${", at)) != -1:
        out.append(text[at:start])
        reference = _NAME.match(text, start)
        end = None if reference is None else reference.end() - 1 if reference.group(2) == "}" else _closing_brace(text, reference.end())
        if reference is None or end is None:  # not a reference: the text as it is
            out.append("${")
            at = start + 2
            continue
        default = text[reference.end() : end] if reference.group(2) == ":-" else None
        out.append(substitute(reference.group(1), default))
        at = end + 1
    out.append(text[at:])
    return "".join(out)


def _closing_brace(text: str, at: int) -> int | None:
    """The index of the brace that closes a reference whose default starts at `at`, or None."""
    depth = 1
    while at < len(text):
        if text.startswith("${", at):
            depth, at = depth + 1, at + 2
            continue
        if text[at] == "}":
            depth -= 1
            if depth == 0:
                return at
        at += 1
    return None


def merge(base: dict[str, Any], overlay: dict[str, Any], provenance: dict[Key, str], overlay_file: str, key: Key = ()) -> dict[str, Any]:
    """Deep-merge overlay into base (overlay wins) and record which file set each key."""
    merged = dict(base)
    for name, value in overlay.items():
        path = (*key, name)
        if isinstance(value, dict) and isinstance(merged.get(name), dict):
            provenance.setdefault(path, overlay_file)
            merged[name] = merge(merged[name], value, provenance, overlay_file, path)
        else:
            merged[name] = value
            record(value, path, overlay_file, provenance)
    return merged


def record(value: Any, key: Key, shown_as: str, provenance: dict[Key, str]) -> None:
    """Note that every key inside value came from shown_as."""
    provenance[key] = shown_as
    if isinstance(value, dict):
        for name, inner in value.items():
            record(inner, (*key, name), shown_as, provenance)
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            record(inner, (*key, index), shown_as, provenance)


def load_layers(
    layers: list[tuple[Path, str]], environ: Mapping[str, str] | None = None, unset: list[str] | None = None
) -> tuple[dict[str, Any], dict[Key, str]]:
    """Read, interpolate and merge files in order; later files override earlier ones."""
    merged: dict[str, Any] = {}
    provenance: dict[Key, str] = {(): " + ".join(shown for _, shown in layers)}
    for path, shown_as in layers:
        data = interpolate(read_yaml(path, shown_as), shown_as, environ=environ, unset=unset)
        merged = merge(merged, data, provenance, shown_as)
    return merged, provenance


def validate(model: type[Model], data: dict[str, Any], provenance: dict[Key, str]) -> Model:
    """Build the typed model, or raise a ConfigError naming the file and key of the first problem."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise ConfigError(describe(error, provenance)) from None


def describe(error: ValidationError, provenance: dict[Key, str]) -> str:
    problems = []
    for detail in error.errors():
        key: Key = tuple(part for part in detail["loc"] if not _is_union_tag(part))
        problems.append(f"{_file_of(key, provenance)}: {dotted(key)}: {_reason(detail)}")
    more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
    return problems[0] + more


def _is_union_tag(part: str | int) -> bool:
    # pydantic adds the union member's name to the location of errors inside it (e.g. 'function-after[...]').
    return isinstance(part, str) and ("[" in part or part.startswith("function-"))


def _file_of(key: Key, provenance: dict[Key, str]) -> str:
    for end in range(len(key), -1, -1):
        if key[:end] in provenance:
            return provenance[key[:end]]
    return provenance[()]


def _reason(detail: Any) -> str:
    kind = detail["type"]
    if kind == "extra_forbidden":
        return "unknown key (check the spelling; see the README's configuration section)"
    if kind == "missing":
        return "missing required key"
    message = str(detail["msg"]).removeprefix("Value error, ")
    given = detail.get("input")
    if kind != "value_error" and not isinstance(given, dict | list):
        return f"{message} (got {given!r})"
    return message
