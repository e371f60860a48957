"""The CDK app: synthesize one stage's CloudFormation, without AWS credentials.

    .venv/bin/python infra/app.py --stage dev --outdir infra/cdk.out/dev   # what `make synth` runs
    cdk deploy --app infra/cdk.out/dev                                      # what `make deploy` runs

One stage per process, on purpose: Chalice's construct imports ``app.py`` to
package it, with the stage's environment variables, and a Python module is
imported once per process (a second stage would get the first one's app).
Run by the CDK CLI (``cdk.json``) it reads the stage from ``-c stage=<name>``.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from typing import List, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# This file is infra/app.py; the Chalice app Chalice must import is ROOT/app.py.
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    sys.path[0] = ROOT
elif ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def _quiet_and_offline() -> None:
    # `chalice package` asks botocore for a region (for the API Gateway service
    # principal, the same in every commercial region); synth needs no account.
    os.environ.setdefault("AWS_DEFAULT_REGION", os.environ.get("CDK_DEFAULT_REGION") or "us-east-1")
    # jsii warns in a banner on every run when Node is older than it likes; it still works.
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,20")
    os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "18,20")


def synth(stage_name: str, outdir: Optional[str] = None, options: Optional[dict] = None) -> str:
    """Synthesize stage ``stage_name`` into ``outdir`` (the CDK CLI's own when None); returns the outdir.

    Raises KeyError for an unknown stage and chalice's errors when packaging fails.
    """
    _quiet_and_offline()
    import aws_cdk as cdk

    from infra.stack import CoinhallStack
    from infra.stages import stage_settings

    stage = stage_settings(stage_name)
    app = cdk.App(outdir=os.path.abspath(outdir) if outdir else None)
    options = {**_context_options(app), **(options or {})}
    # The construct packages into ./chalice.out: keep that scratch out of the work tree.
    with tempfile.TemporaryDirectory(prefix="coinhall-chalice-") as scratch:
        cwd = os.getcwd()
        os.chdir(scratch)
        try:
            CoinhallStack(app, stage, options)
            assembly = app.synth()
        finally:
            os.chdir(cwd)
    _prune_package_cache()
    return assembly.directory


def _prune_package_cache(keep: int = 3) -> None:
    """Chalice caches one ~25 MB zip per version of the code in .chalice/deployments; keep the newest few."""
    folder = os.path.join(ROOT, ".chalice", "deployments")
    if not os.path.isdir(folder):
        return
    zips = sorted((os.path.join(folder, n) for n in os.listdir(folder) if n.endswith(".zip")),
                  key=os.path.getmtime, reverse=True)
    for stale in zips[keep:]:
        os.remove(stale)


# Optional per-deployment values (`-c key=value`), all non-secret.
OPTIONS = ("public_url", "minecraft_api_url", "alarm_email")


def _context_options(app: object) -> dict:
    node = getattr(app, "node")
    return {k: v for k in OPTIONS if (v := node.try_get_context(k))}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="infra/app.py", description="Synthesize one Coinhall stage.")
    parser.add_argument("--stage", help="dev or prod (default: CDK context 'stage', else dev)")
    parser.add_argument("--outdir", help="cloud assembly folder (default: the CDK CLI's, else infra/cdk.out/<stage>)")
    parser.add_argument("-c", "--context", action="append", default=[], metavar="KEY=VALUE",
                        help="public_url, minecraft_api_url or alarm_email (as `cdk -c`)")
    args = parser.parse_args(argv)
    options = {}
    for pair in args.context:
        key, sep, value = pair.partition("=")
        if not sep or key not in OPTIONS:
            parser.error(f"-c takes KEY=VALUE with KEY one of {', '.join(OPTIONS)}; got {pair!r}")
        options[key] = value
    stage = args.stage or _context_stage() or "dev"
    outdir = args.outdir or (None if os.environ.get("CDK_OUTDIR") else os.path.join(ROOT, "infra", "cdk.out", stage))
    directory = synth(stage, outdir, options)
    print(f"synthesized stage {stage} into {directory}", file=sys.stderr)
    return 0


def _context_stage() -> Optional[str]:
    import json

    # The CDK CLI passes -c values in CDK_CONTEXT_JSON.
    context = json.loads(os.environ.get("CDK_CONTEXT_JSON") or "{}")
    return context.get("stage")


if __name__ == "__main__":
    sys.exit(main())
