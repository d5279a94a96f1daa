"""tools/student-lab.sh starts a JupyterLab without nbgrader's instructor tools or the news pop-up,
and nbgrader finds its student settings there (no "No nbgrader_config.py file found")."""

import json
import os
import re
import secrets
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from coursetools import ROOT

pytestmark = pytest.mark.slow  # starts a Jupyter server

INSTRUCTOR_PLUGINS = {"@jupyter/nbgrader:create-assignment", "@jupyter/nbgrader:formgrader",
                      "@jupyter/nbgrader:course-list"}
STUDENT_PLUGINS = {"@jupyter/nbgrader:validate-assignment", "@jupyter/nbgrader:assignment-list",
                   "@jupyter/nbgrader:menu"}
NEWS_PLUGIN = "@jupyterlab/apputils-extension:announcements"
PAGE_CONFIG = re.compile(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', re.S)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    def __init__(self, tmp_path):
        self.port, self.token = free_port(), secrets.token_hex(16)
        self.log_path = tmp_path / "server.log"
        # An empty user config dir and runtime dir: the test sees the repository's setup alone.
        env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "user-config"),
               "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
        env.pop("JUPYTER_CONFIG_PATH", None)
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(
                ["bash", str(ROOT / "tools" / "student-lab.sh"), "--no-browser", "--allow-root",
                 "--ip=127.0.0.1", f"--port={self.port}", "--ServerApp.port_retries=0",
                 f"--IdentityProvider.token={self.token}"],
                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path)

    def get(self, path):
        url = f"http://127.0.0.1:{self.port}{path}{'&' if '?' in path else '?'}token={self.token}"
        try:
            with urllib.request.urlopen(url, timeout=20) as reply:
                return reply.status, reply.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()

    def wait_until_up(self, seconds=60):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"the server exited:\n{self.log()}"
            try:
                return self.get("/api/status")
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.3)
        raise AssertionError(f"no server after {seconds} s:\n{self.log()}")

    def stop(self):
        try:
            urllib.request.urlopen(urllib.request.Request(
                f"http://127.0.0.1:{self.port}/api/shutdown?token={self.token}", method="POST"), timeout=10)
            self.proc.wait(timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()

    def log(self):
        return self.log_path.read_text()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    server = Lab(tmp_path_factory.mktemp("student-lab"))
    try:
        server.wait_until_up()
        yield server
    finally:
        server.stop()


def test_the_page_disables_the_instructor_tools_and_the_news(lab):
    status, html = lab.get("/lab")
    assert status == 200
    config = json.loads(PAGE_CONFIG.search(html).group(1))
    disabled = set(config["disabledExtensions"])
    assert INSTRUCTOR_PLUGINS | {NEWS_PLUGIN} <= disabled
    assert not STUDENT_PLUGINS & disabled
    assert config["news"] == {"disabled": True}
    assert config["serverRoot"] == str(ROOT / "chapters")
    assert lab.get("/lab/api/settings")[0] == 200


def test_the_server_runs_only_the_student_side_of_nbgrader(lab):
    assert lab.get("/formgrader")[0] == 404
    loaded = set(re.findall(r"Loading the (\w+) nbgrader serverextension", lab.log()))
    assert loaded == {"assignment_list", "validate_assignment"}


def test_nbgrader_finds_the_student_config(lab):
    # Listing assignments loads nbgrader's config first; the listing itself fails without an exchange.
    status, reply = lab.get("/assignments?course_id=")
    assert status == 200 and "success" in json.loads(reply)
    assert "No nbgrader_config.py file found" not in lab.log()
