"""The CI workflows in .github/workflows/ are valid GitHub workflows: checked offline
against the workflow schema check-jsonschema vendors (a test dependency, pyproject dev)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from harness import paths

WORKFLOWS = sorted((paths.ROOT / ".github" / "workflows").glob("*.y*ml"))


def test_there_are_workflows():
    assert any(w.name == "suite-shards.yml" for w in WORKFLOWS), WORKFLOWS


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_is_valid_against_the_github_schema(workflow):
    r = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows", str(workflow)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stdout + r.stderr
