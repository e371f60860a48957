"""Synthesize every deployed stage once per session, offline, as ``make synth`` does.

Each stage runs ``infra/app.py`` in its own process (Chalice's construct
imports the app with the stage's environment, once per process) with every
AWS credential source removed: synthesis must never need an account. The
first synthesis after a code change lets Chalice build the Lambda bundle
(it downloads the Linux wheels of requirements.txt); the next stage reuses it.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

ROOT = Path(__file__).resolve().parents[2]
STAGES = ("dev", "prod")

# The test modules use aws_cdk.assertions in this process: no end-of-life banner from jsii.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,20")

# Every place botocore looks for credentials, pointed at nothing.
_NO_CREDENTIALS = {
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}
_DROPPED = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
            "AWS_DEFAULT_PROFILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "CDK_DEFAULT_ACCOUNT", "CDK_OUTDIR", "CDK_CONTEXT_JSON")


@dataclass
class Synth:
    stage: str
    outdir: Path
    template: Dict[str, Any]
    seconds: float

    def resources(self, kind: str) -> Dict[str, Dict[str, Any]]:
        return {k: v for k, v in self.template["Resources"].items() if v["Type"] == kind}

    def functions(self) -> Dict[str, Dict[str, Any]]:
        return {k: v["Properties"] for k, v in self.resources("AWS::Serverless::Function").items()}

    def one(self, kind: str) -> Dict[str, Any]:
        found = list(self.resources(kind).items())
        assert len(found) == 1, f"expected one {kind}, found {[k for k, _ in found]}"
        return {"id": found[0][0], **found[0][1]}

    def bundles(self) -> List[Path]:
        return sorted(self.outdir.glob("asset.*.zip"))


def offline_env() -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _DROPPED}
    env.update(_NO_CREDENTIALS)
    return env


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dict[str, Synth]]:
    out: Dict[str, Synth] = {}
    base = tmp_path_factory.mktemp("cdk")
    for stage in STAGES:
        outdir = base / stage
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, str(ROOT / "infra" / "app.py"), "--stage", stage, "--outdir", str(outdir)],
            cwd=str(ROOT), env=offline_env(), capture_output=True, text=True, timeout=600,
        )
        seconds = time.monotonic() - started
        assert done.returncode == 0, f"synth {stage} failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
        template = json.loads((outdir / f"{stage}.template.json").read_text())
        out[stage] = Synth(stage, outdir, template, seconds)
    yield out


@pytest.fixture(scope="session", params=STAGES)
def synth(request: pytest.FixtureRequest, synthesized: Dict[str, Synth]) -> Synth:
    """Each deployed stage in turn."""
    return synthesized[request.param]
