"""One run: pick the benchmarks, run them in order, print ``name=value`` lines.

A benchmark that fails prints ``# <name> FAILED: ...`` and the run goes on (the
invariant check still runs); when the engine cannot be set up, the benchmarks
that need it are skipped. A figure that misses its target gets a ``# MISSED``
line. The engine is stopped whatever happens.
"""
from __future__ import annotations

import os
import platform
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, List, Optional

from bench.context import Context, Options
from bench.registry import Benchmark, benchmarks, meets


def format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.4g}"  # 4 significant digits
    return str(value)


def select(names: Optional[Iterable[str]]) -> List[Benchmark]:
    everything = benchmarks()
    if not names:
        return everything
    wanted = list(names)
    known = {b.name for b in everything}
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise SystemExit(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return [b for b in everything if b.name in wanted]


@dataclass
class Summary:
    failed: List[str] = field(default_factory=list)
    missed: List[str] = field(default_factory=list)


def _describe_error(ctx: Context, what: str, exc: BaseException) -> None:
    ctx.note(f"{what} FAILED: {type(exc).__name__}: {exc}")
    for line in traceback.format_exc().rstrip().splitlines()[-6:]:
        ctx.note(f"  {line}")


def run(selected: List[Benchmark], options: Options, out: Callable[[str], None] = print) -> Summary:
    """Run ``selected`` in order and print their figures."""

    def emit(line: str) -> None:
        out(line)
        sys.stdout.flush()

    emit(f"# coinhall bench: python {platform.python_version()}, {os.cpu_count()} cpus, "
         f"{options.threads} threads, {options.ops} ops/path in blocks of {options.block} "
         f"(+{options.warmup} warm-up), DynamoDB Local in memory")
    ctx = Context(options, emit)
    summary = Summary()
    engine_error: Optional[str] = None
    started = time.monotonic()
    try:
        for bench in selected:
            t0 = time.monotonic()
            if bench.needs_engine:
                if engine_error is None:
                    try:
                        ctx.ensure_engine()
                    except Exception as exc:
                        _describe_error(ctx, "engine setup", exc)
                        engine_error = f"{type(exc).__name__}: {exc}"
                if engine_error is not None:
                    ctx.note(f"{bench.name} skipped: no engine")
                    summary.failed.append(bench.name)
                    continue
            try:
                figures = bench.func(ctx)
            except Exception as exc:
                _describe_error(ctx, bench.name, exc)
                summary.failed.append(bench.name)
                continue
            for name, value in figures.items():
                emit(f"{name}={format_value(value)}")
                target = bench.targets.get(name)
                if target is not None and not meets(value, target):
                    ctx.note(f"MISSED {name}={format_value(value)} (target {target[0]} {format_value(target[1])})")
                    summary.missed.append(name)
            ctx.note(f"{bench.name}: {time.monotonic() - t0:.1f}s")
    finally:
        ctx.close()
    verdict = []
    if summary.failed:
        verdict.append(f"{len(summary.failed)} failed ({', '.join(summary.failed)})")
    if summary.missed:
        verdict.append(f"{len(summary.missed)} missed target ({', '.join(summary.missed)})")
    ctx.note(f"done in {time.monotonic() - started:.1f}s; " + ("; ".join(verdict) or "every target met"))
    return summary
