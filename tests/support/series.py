"""Which Prometheus series the code exports, derived from the code; which a query reads.

:func:`exported` lists every series name a scrape of this project can return, without
a running process and without a hand-kept list:

* the project's own metrics: the collectors of :data:`orders.observability.metrics.REGISTRY`
  (names and types as prometheus-client exposes them);
* the workflow's counters: the names ``workflows/_metrics.py`` hands the SDK's metric meter
  (read from its syntax tree);
* the Temporal SDK runtime's: the metric definitions of the SDK Core source the
  ``temporalio`` wheel ships (``temporalio/bridge/sdk-core``), under the runtime's
  settings (prefix ``temporal_``, counters ``_total``, no unit suffix:
  :func:`orders.observability.sdk.runtime`);
* what Prometheus adds to every target (``up``, ``scrape_*``).

:func:`referenced` reads the series names a PromQL expression selects.
"""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path
from typing import Final

import temporalio

from orders.deploy.common import ROOT as PROJECT_ROOT
from orders.observability import metrics, names

SDK_PREFIX: Final = "temporal_"
CORE: Final = Path(temporalio.__file__).parent / "bridge" / "sdk-core" / "crates"
CORE_FILES: Final = (
    CORE / "sdk-core" / "src" / "telemetry" / "metrics.rs",
    CORE / "client" / "src" / "metrics.rs",
)
CORE_CONSTANTS: Final = (*CORE_FILES, CORE / "common" / "src" / "telemetry" / "metrics.rs")
PROMETHEUS_SYNTHETIC: Final = frozenset(
    {
        "up",
        "scrape_duration_seconds",
        "scrape_samples_scraped",
        "scrape_samples_post_metric_relabeling",
        "scrape_series_added",
    }
)

_CONST: Final = re.compile(r"(?:const|static) (\w+): &str =\s*\"(\w+)\";")
_DEFINITION: Final = re.compile(r"(\w+)\(MetricParameters \{\s*name: (?:\"(\w+)\"|(\w+))\.into\(\)")


def _expand(name: str, kind: str, *, created: bool = False) -> set[str]:
    """The exposed names of a metric ``name`` of ``kind`` (counter/gauge/histogram).

    ``created``: prometheus-client also exposes a ``_created`` timestamp per counter and
    histogram; the SDK's Core does not.
    """
    extra = {f"{name}_created"} if created else set()
    if kind == "counter":
        return {f"{name}_total", *extra}
    if kind == "histogram":
        return {f"{name}_bucket", f"{name}_sum", f"{name}_count", *extra}
    return {name}


def _kind(call: str) -> str:
    for kind in ("histogram", "counter"):
        if kind in call and "up_down" not in call:
            return kind
    return "gauge"


@functools.cache
def sdk_core() -> frozenset[str]:
    """The SDK runtime's series, from the Core source shipped with ``temporalio``."""
    constants: dict[str, str] = {
        m[1]: m[2] for f in CORE_CONSTANTS for m in _CONST.finditer(_flat(f.read_text()))
    }
    out: set[str] = set()
    for source in CORE_FILES:
        for call, literal, const in _DEFINITION.findall(_flat(source.read_text())):
            name = literal or constants[const]
            out |= _expand(SDK_PREFIX + name, _kind(call))
    return frozenset(out)


def _flat(text: str) -> str:
    """Rust source with a constant's value on its line (``=\\n    "..."`` joined)."""
    return re.sub(r"=\s*\n\s*\"", '= "', text)


def project() -> frozenset[str]:
    """The project's own series: every collector of its registry (process's included)."""
    out: set[str] = set()
    for family in metrics.REGISTRY.collect():
        out |= _expand(family.name, family.type, created=True)
        out |= {sample.name for sample in family.samples}
    return frozenset(out)


def workflow_counters() -> frozenset[str]:
    """The counters the workflow records through the SDK (``workflows/_metrics.py``)."""
    tree = ast.parse((PROJECT_ROOT / "workflows" / "_metrics.py").read_text())
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "_count":
            first = node.args[0]
            assert isinstance(first, ast.Attribute), ast.dump(first)
            out |= _expand(getattr(names, first.attr), "counter")
    return frozenset(out)


def exported() -> frozenset[str]:
    """Every series a scrape of this project's processes (and Prometheus) can hold."""
    return project() | workflow_counters() | sdk_core() | PROMETHEUS_SYNTHETIC


_STRING: Final = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_GROUPED: Final = re.compile(
    r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)|\{[^}]*\}|\[[^\]]*\]"
)
_WORD: Final = re.compile(r"(?<![\w.])([a-zA-Z_:][\w:]*)(\s*\()?")
_KEYWORDS: Final = frozenset({"and", "or", "unless", "bool", "offset", "by", "without", "inf"})


def referenced(expr: str) -> set[str]:
    """Series names ``expr`` selects (functions, keywords, labels and durations excluded)."""
    bare = _GROUPED.sub(" ", _STRING.sub('""', expr))
    return {
        word
        for word, call in _WORD.findall(bare)
        if not call and word.lower() not in _KEYWORDS and not re.fullmatch(r"\d\w*", word)
    }
