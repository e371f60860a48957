"""``python -m sim [--seed S] [--ops N] [--check-every K] [--json] [--no-shrink]``"""
from __future__ import annotations

import argparse
import json
import random
import sys
from typing import List, Optional


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim", description="Coinhall seeded simulation.")
    parser.add_argument("--seed", type=int, default=None, help="default: a random one (printed)")
    parser.add_argument("--ops", type=int, default=20_000)
    parser.add_argument("--check-every", type=int, default=200, help="oracles after every K operations")
    parser.add_argument("--fault-rate", type=float, default=0.03, help="chance a transaction is faulted")
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON line")
    parser.add_argument("--no-shrink", action="store_true", help="on a violation, do not look for a shorter prefix")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 10**9)

    from sim.runner import simulate

    summary = simulate(seed, args.ops, check_every=args.check_every, fault_rate=args.fault_rate,
                       shrink=not args.no_shrink)
    if args.json:
        print(json.dumps(summary, sort_keys=True))
    else:
        for name, value in summary.items():
            print(f"{name}={json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else value}")
    if summary["violations"]:
        v = summary["violation"]
        print(f"VIOLATION seed={seed} op={v['op']} ({v['kind']}): {v['message']}", file=sys.stderr)
        print(f"replay: make sim SEED={seed} OPS={summary.get('shortest_failing_ops') or v['op'] + 1}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
