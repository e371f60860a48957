"""cfn-lint passes on every synthesized template, and the Lambda bundle holds runtime code only.

cfn-lint runs with its default rules and nothing ignored: it expands the SAM
transform Chalice's template uses and checks the result as CloudFormation would.
"""
from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any, Dict

import pytest

pytestmark = pytest.mark.infra

ROOT = Path(__file__).resolve().parents[2]
# Lambda's limits for a zip uploaded through S3: 250 MB unzipped (50 MB zipped for a direct upload).
MAX_UNZIPPED = 250 * 1024 * 1024
# Packages for infra and tests only: never in requirements.txt, never in the bundle.
DEV_ONLY = ("aws_cdk", "jsii", "constructs", "cfnlint", "samtranslator", "moto", "pytest", "hypothesis", "typeguard")


def test_cfn_lint_passes_on_every_stage(synthesized: Dict[str, Any]) -> None:
    templates = [str(s.outdir / f"{s.stage}.template.json") for s in synthesized.values()]
    lint = "import sys; from cfnlint.runner import main; sys.exit(main())"
    done = subprocess.run([sys.executable, "-c", lint, "--format", "parseable", *templates],
                          cwd=str(ROOT), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"cfn-lint found problems:\n{done.stdout}\n{done.stderr}"


def test_the_bundle_holds_the_app_and_its_runtime_dependencies_only(synth: Any) -> None:
    bundles = synth.bundles()
    assert len(bundles) == 1, bundles
    with zipfile.ZipFile(bundles[0]) as bundle:
        names = bundle.namelist()
        unzipped = sum(i.file_size for i in bundle.infolist())
    tops = {n.split("/")[0] for n in names}
    assert {"app.py", "chalicelib", "chalice", "pynamodb", "pydantic", "stripe", "nacl"} <= tops
    for dev in DEV_ONLY:
        assert dev not in tops, f"{dev} is in the Lambda bundle"
    assert not {"infra", "tests", "bench", "scripts"} & tops
    assert unzipped < MAX_UNZIPPED
    assert bundles[0].stat().st_size < 50 * 1024 * 1024


def _names(path: Path) -> set:
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            names.add(re.split(r"[\[=<>~! ]", line, maxsplit=1)[0].lower().replace("_", "-"))
    return names


def test_cdk_packages_are_dev_dependencies_only() -> None:
    runtime = _names(ROOT / "requirements.txt")
    dev = _names(ROOT / "requirements-dev.txt")
    infra = {"aws-cdk-lib", "constructs", "cfn-lint", "chalice"}
    assert not runtime & infra, runtime & infra
    assert infra <= dev
    for line in (ROOT / "requirements-dev.txt").read_text().splitlines():
        name = re.split(r"[\[=<>~! ]", line.strip(), maxsplit=1)[0].lower()
        if name in infra:
            assert "==" in line, f"pin {line!r}"
