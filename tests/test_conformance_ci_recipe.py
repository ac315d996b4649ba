"""The README's CI recipes (GitHub Actions, GitLab CI) work: their shell steps run here, on a checkout.

The package is installed from this checkout into a fresh virtual environment (``pip install
agentfeed-mock`` becomes ``pip install <checkout>``: the same wheel, so what the wheel lacks
fails here), ``my_agent.py`` is the reference LuckyLobster client (``requirements.txt``: httpx), and the system packages the
recipes install (``libfaketime``, ``gcc``) are the ones ``make warp-deps`` installed. The JUnit
and HTML files the recipes publish must exist and hold what they say.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from tests.test_readme import of

ROOT = Path(__file__).resolve().parent.parent
INSTALL = "python -m pip install agentfeed-mock"


def recipes() -> tuple[list[str], list[str]]:
    """The shell lines of the GitHub Actions job and of the GitLab CI job, in order."""
    github, gitlab = (yaml.safe_load(block.text) for block in of("ci"))
    (job,) = github["jobs"].values()
    github_lines = [line for step in job["steps"] if "run" in step for line in _lines(step["run"])]
    (gl_job,) = gitlab.values()
    gitlab_lines = [line for key in ("before_script", "script") for item in gl_job[key] for line in _lines(item)]
    return github_lines, gitlab_lines


def _lines(script: str) -> list[str]:
    joined = script.replace("\\\n", " ")
    return [" ".join(line.split()) for line in joined.splitlines() if line.strip()]


def test_both_recipes_run_the_same_steps_and_publish_the_reports() -> None:
    github, gitlab = recipes()
    assert [line.replace("sudo ", "") for line in github] == gitlab
    github_block, gitlab_block = (yaml.safe_load(block.text) for block in of("ci"))
    (job,) = github_block["jobs"].values()
    uses = {step.get("uses", "").split("@")[0]: step for step in job["steps"]}
    assert uses["mikepenz/action-junit-report"]["with"]["report_paths"] == "reports/junit.xml"
    assert uses["actions/upload-artifact"]["with"]["path"] == "reports/"
    (gl_job,) = gitlab_block.values()
    assert gl_job["artifacts"]["reports"]["junit"] == "reports/junit.xml" and gl_job["artifacts"]["when"] == "always"


@pytest.mark.timeout(300)
def test_the_recipe_shell_steps_grade_an_agent_installed_from_the_checkout(tmp_path: Path) -> None:
    _, steps = recipes()
    apt = [line for line in steps if "apt-get" in line]
    assert apt and "libfaketime" in apt[-1] and "gcc" in apt[-1]
    assert shutil.which("faketime") or list(Path("/usr/lib").glob("*/faketime/libfaketimeMT.so.1")), "make warp-deps installs libfaketime"
    assert INSTALL in steps
    work = tmp_path / "project"
    work.mkdir()
    shutil.copy(ROOT / "fixtures" / "clients" / "luckylobster_agent.py", work / "my_agent.py")
    (work / "requirements.txt").write_text("httpx\n")  # the reference client's own dependency
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON"))}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    for line in steps:
        if "apt-get" in line:
            continue  # the system packages: make warp-deps installed them (checked above)
        command = line.replace(INSTALL, f"python -m pip install --quiet {ROOT}")
        done = subprocess.run(["bash", "-ec", command], cwd=work, env=env, capture_output=True, text=True, timeout=240)
        assert done.returncode == 0, f"`{command}` exited {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    # the job's artifacts
    suites = ET.parse(work / "reports" / "junit.xml").getroot()
    names = [suite.get("name") for suite in suites.iter("testsuite")]
    assert names == ["luckylobster/action-needed", "luckylobster/rate-limited"]
    assert sum(int(suite.get("failures") or 0) for suite in suites.iter("testsuite")) == 0
    assert "luckylobster.heartbeat.honours-next-check-at" in (work / "reports" / "conformance.html").read_text()
    assert (work / "reports" / "runs" / "luckylobster_action-needed" / "journal.jsonl").stat().st_size > 0
