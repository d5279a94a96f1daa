"""nbval on every notebook: strict on solutions/ (stored outputs must be reproduced),
lax on the student release chapters/ (every cell runs; stubs raise where tagged).

Each notebook runs in its own pytest subprocess, so one kernel per notebook and a
failure names the notebook.
"""

import subprocess
import sys

import pytest

from coursetools import CHAPTERS, ROOT, SOLUTIONS, chapter_slugs, notebook_path
from coursetools.execute import kernel_env

pytestmark = pytest.mark.slow

SANITIZE = ROOT / "tests" / "sanitize.cfg"


def slugs(source):
    return chapter_slugs(source) if source.is_dir() else []


def run_nbval(path, *options):
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-current-env",
           *options, str(path.relative_to(ROOT))]
    done = subprocess.run(cmd, cwd=ROOT, env=kernel_env(), capture_output=True, text=True, timeout=600)
    log = done.stdout[-6000:] + done.stderr[-2000:]
    assert done.returncode == 0, f"nbval failed on {path.relative_to(ROOT)}:\n{log}"


@pytest.mark.parametrize("slug", slugs(SOLUTIONS))
def test_solution_outputs_are_reproduced(slug):
    run_nbval(notebook_path(slug, SOLUTIONS), "--nbval", "--nbval-sanitize-with", str(SANITIZE))


@pytest.mark.parametrize("slug", slugs(CHAPTERS))
def test_release_runs(slug):
    run_nbval(notebook_path(slug, CHAPTERS), "--nbval-lax")
