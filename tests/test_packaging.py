"""The project installed as users install it: a non-editable wheel in a fresh venv, asked one question
in answer mode ``llm``. The prompt templates must come from the installed package (``assistant.prompts``),
not from the checkout, so the question is asked from a folder outside it.

The fresh venv gets only the project's own wheel; its dependencies (torch, the models) are read from
the test's own environment through a ``.pth`` line, so nothing is downloaded.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[1]
PROJECT_FILES = ("pyproject.toml", "README.md", "assistant", "prompts")


def run(*cmd, cwd: Path, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    result = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{cmd[:3]} failed ({result.returncode}):\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv holding the project as a wheel (not editable); returns its bin/ folder."""
    work = tmp_path_factory.mktemp("packaging")
    source = work / "source"
    source.mkdir()
    for name in PROJECT_FILES:  # a copy, so building leaves nothing in the checkout
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy2
        copy(ROOT / name, source / name)
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", work / "dist",
        source, cwd=work)
    (wheel,) = (work / "dist").glob("doc_assistant-*.whl")
    venv = work / "venv"
    run(sys.executable, "-m", "venv", venv, cwd=work)
    site = Path(run(venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                    cwd=work).stdout.strip())
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")  # after the venv's own packages
    run(venv / "bin" / "python", "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", wheel, cwd=work)
    return venv / "bin"


def test_the_installed_package_is_not_the_checkout(installed, tmp_path):
    found = run(installed / "python", "-c", "import assistant.prompts, assistant.ui, assistant.readers.office; print(assistant.prompts.__file__)",
                cwd=tmp_path).stdout.strip()
    assert "site-packages" in found and not found.startswith(str(ROOT))
    assert (Path(found).parent / "answer.txt").is_file()


def test_a_non_editable_install_answers_in_llm_mode(installed, tmp_path):
    docs = tmp_path / "docs"
    shutil.copytree(ROOT / "seeds", docs)
    env = {**os.environ, "ASSISTANT_LLM_THREADS": "2"}
    result = run(installed / "assistant", "ask", "How many AK-203 rifles will India buy?", "--mode", "llm",
                 "--docs", docs, "--index", tmp_path / "index", "--quiet", "--json", cwd=tmp_path, env=env, timeout=600)
    answer = json.loads(result.stdout)
    assert answer["mode"] == "llm" and not answer["refused"]
    assert "6,01,427" in answer["text"] and answer["citations"]
