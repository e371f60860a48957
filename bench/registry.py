"""The benchmark registry: a benchmark is a function registered by name.

A benchmark takes the run's ``Context`` and returns its figures as an ordered
mapping ``{name: value}``; each becomes one ``name=value`` line. Anything a
person should read beside the figures goes through ``ctx.note()`` (a ``#`` line).

Phases order a run: ``COLD`` benchmarks need no engine and run before it starts
(so the JVM does not compete with them for CPU), ``MAIN`` ones run against the
engine in registration order, and ``FINAL`` ones run last (the invariant check
must see everything the others wrote). To add a benchmark, write a function in a
module listed in ``bench.MODULES`` (or add the module there)::

    @register("ddb_requests_per_credit", targets={"ddb_requests_per_credit": ("<=", 2)})
    def requests_per_credit(ctx):
        ...
        return {"ddb_requests_per_credit": n}

``targets`` are what good looks like (DESIGN.md section 6): a figure that misses
its target gets a ``# MISSED`` line and counts in the summary, but a run only
fails on it with ``--strict``: figures, not assertions.
"""
from __future__ import annotations

from dataclasses import dataclass
import operator
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

COLD, MAIN, FINAL = 0, 50, 100

_COMPARE = {"<=": operator.le, ">=": operator.ge, "==": operator.eq, "<": operator.lt, ">": operator.gt}
Target = Tuple[str, Any]  # (comparison, value), e.g. (">=", 0.8)


def meets(value: Any, target: Target) -> bool:
    return bool(_COMPARE[target[0]](value, target[1]))


@dataclass(frozen=True)
class Benchmark:
    name: str
    func: Callable[[Any], Mapping[str, Any]]
    phase: int
    order: int
    targets: Mapping[str, Target]

    @property
    def needs_engine(self) -> bool:
        return self.phase != COLD


_REGISTRY: Dict[str, Benchmark] = {}


def register(
    name: str, *, phase: int = MAIN, targets: Optional[Mapping[str, Target]] = None
) -> Callable[[Callable[[Any], Mapping[str, Any]]], Callable[[Any], Mapping[str, Any]]]:
    """Register ``func`` as benchmark ``name`` (names are unique)."""
    for op, _ in (targets or {}).values():
        if op not in _COMPARE:
            raise ValueError(f"unknown comparison {op!r} in targets of {name!r}")

    def decorate(func: Callable[[Any], Mapping[str, Any]]) -> Callable[[Any], Mapping[str, Any]]:
        if name in _REGISTRY and _REGISTRY[name].func is not func:
            raise ValueError(f"benchmark {name!r} registered twice")
        _REGISTRY[name] = Benchmark(name, func, phase, len(_REGISTRY), dict(targets or {}))
        return func

    return decorate


def benchmarks() -> List[Benchmark]:
    """Every registered benchmark, in run order."""
    return sorted(_REGISTRY.values(), key=lambda b: (b.phase, b.order))
