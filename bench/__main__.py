"""``python -m bench [--only NAME ...] [--list] [--strict] [--threads N] [--ops N] ...``"""
from __future__ import annotations

import argparse
import signal
import sys
from typing import List, Optional

import bench
from bench.context import Options
from bench.runner import run, select


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Optional[List[str]] = None) -> int:
    defaults = Options()
    parser = argparse.ArgumentParser(prog="python -m bench", description="Coinhall benchmarks (name=value lines).")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these benchmarks (in run order)")
    parser.add_argument("--threads", type=int, default=defaults.threads)
    parser.add_argument("--ops", type=int, default=defaults.ops, help="measured operations per path")
    parser.add_argument("--warmup", type=int, default=defaults.warmup, help="warm-up operations per path")
    parser.add_argument("--block", type=int, default=defaults.block, help="operations per timed block")
    parser.add_argument("--samples", type=int, default=defaults.samples, help="operations whose requests are counted")
    parser.add_argument("--import-runs", type=int, default=defaults.import_runs)
    parser.add_argument("--strict", action="store_true", help="exit 2 when a figure misses its target")
    args = parser.parse_args(argv)
    bench.load()
    if args.list:
        for b in bench.benchmarks():
            doc = (b.func.__doc__ or "").strip().splitlines()
            targets = ", ".join(f"{n} {op} {v}" for n, (op, v) in b.targets.items())
            print(f"{b.name:26} {doc[0] if doc else ''}" + (f" [{targets}]" if targets else ""))
        return 0
    for name in ("threads", "ops", "block", "samples", "import_runs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.warmup < 0:
        parser.error("--warmup must not be negative")
    options = Options(threads=args.threads, ops=args.ops, warmup=args.warmup, block=args.block, samples=args.samples,
                      import_runs=args.import_runs)
    # SIGTERM unwinds like Ctrl-C, so the engine is stopped on the way out.
    signal.signal(signal.SIGTERM, _interrupted)
    try:
        summary = run(select(args.only), options)
    except KeyboardInterrupt:
        print("# interrupted; engine stopped", file=sys.stderr)
        return 130
    if summary.failed:
        return 1
    return 2 if args.strict and summary.missed else 0


if __name__ == "__main__":
    sys.exit(main())
