"""The kernels' fork server (coursetools.zygote): what a forked kernel is, and what it cannot reach.

A forked kernel must be what a kernel started afresh in the jail was: the jail uid with no
capability, no_new_privs and the rlimits; its own folder as cwd, home and first import path; the
inline backend, widgets and notebook progress bars wired to its own shell; and no way to the server
it was forked from, nor to the kernel forked before it.
"""

import json
import multiprocessing
import os
import socket
import subprocess
import sys

import nbformat
import pytest
from nbclient import NotebookClient

from coursetools import ROOT, checks, course, grade, sandbox, zygote
from coursetools.execute import kernel_env

PROBE = """
import os, resource
status = dict(line.split(':', 1) for line in open('/proc/self/status').read().splitlines())
print('ids', os.getresuid(), os.getresgid(), os.getgroups())
print('caps', [int(status[k], 16) for k in ('CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb')])
print('no_new_privs', status['NoNewPrivs'].strip())
print('nproc', resource.getrlimit(resource.RLIMIT_NPROC)[1], 'as', resource.getrlimit(resource.RLIMIT_AS)[1])
print('home', os.getcwd() == os.environ['HOME'] == os.environ['MPLCONFIGDIR'])
for name, attempt in [('stop', lambda: os.kill(os.getppid(), 19)),
                      ('memory', lambda: open(f'/proc/{os.getppid()}/mem', 'rb').read(1)),
                      ('root', lambda: os.setuid(0))]:
    try:
        attempt()
        print(name, 'REACHED')
    except OSError as exc:
        print(name, 'refused', type(exc).__name__)
"""
INTEGRATION = """
import os, sys
import matplotlib.pyplot as plt
from tqdm.auto import tqdm
import ipywidgets
print('path', [p.replace(os.getcwd(), 'CWD') for p in sys.path])
print('hash', hash('coursetools'))  # PYTHONHASHSEED, read when the interpreter starts
print('bar', [c.__module__ for c in tqdm.__mro__ if c.__module__.startswith('tqdm.')][:2])
plt.plot([0, 1], [1, 0])
plt.show()
ipywidgets.IntSlider(3)
"""
LEAVE = "open('left-behind', 'w').write('x')\nimport subprocess\nsubprocess.Popen(['sleep', '60'])\n"
LOOK = "import os\nprint('listing', sorted(os.listdir('.')))\n"


def run(jail, *sources):
    """The outputs of ``sources``, run as cells by a kernel that ``jail`` starts, as the grader runs them."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    with jail.workdir() as private:
        jail.prepare(private)
        client = NotebookClient(nb, timeout=60, kernel_name="python3", allow_errors=True,
                                km=grade.SandboxedKernelManager.create(private, jail),
                                resources={"metadata": {"path": str(private)}})
        try:
            client.execute(env=kernel_env(), cwd=str(private), stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        finally:
            jail.cleanup()
    return [cell.outputs for cell in nb.cells]


class FreshJail(sandbox.Jail):
    """The jail as it started kernels before the fork server: bubblewrap, then a new Python."""

    def launch(self, cmd, workdir, **popen):
        from jupyter_client.launcher import launch_kernel

        return launch_kernel(self.wrap(cmd, workdir), **{**popen, "cwd": str(workdir)})


def text(outputs):
    return "".join(o.get("text", "") for o in outputs if o["output_type"] == "stream")


@pytest.fixture(scope="module")
def jail():
    jail = sandbox.Jail(sandbox.claim_uid())
    yield jail
    jail.close()


@pytest.mark.sandbox
def test_a_forked_kernel_is_jailed_and_cannot_reach_its_server(jail):
    [outputs] = run(jail, PROBE)
    out = text(outputs)
    uid = jail.uid
    limits = jail.limits
    for line in [f"ids {(uid, uid, uid)} {(uid, uid, uid)} []", "caps [0, 0, 0, 0, 0]", "no_new_privs 1",
                 f"nproc {limits.processes} as {limits.memory_bytes}", "home True",
                 *(f"{name} refused PermissionError" for name in ("stop", "memory", "root"))]:
        checks.assert_true(line in out, f"the forked kernel printed {out!r}, without {line!r}")


@pytest.mark.sandbox
def test_a_forked_kernel_wires_its_own_shell_as_a_fresh_kernel_does(jail):
    [outputs] = run(jail, INTEGRATION)
    fresh_jail = FreshJail(jail.uid)
    try:
        [fresh] = run(fresh_jail, INTEGRATION)
    finally:
        fresh_jail.close()
    kinds = {key for o in outputs for key in o.get("data", {})}
    checks.assert_true(text(outputs) == text(fresh) and "tqdm.notebook" in text(fresh),
                       f"sys.path or tqdm.auto's bar differ from a fresh kernel's: {text(outputs)!r}, "
                       f"fresh {text(fresh)!r}")
    checks.assert_true("image/png" in kinds, f"the inline backend drew no figure: {kinds}")
    checks.assert_true("application/vnd.jupyter.widget-view+json" in kinds, f"no widget view: {kinds}")


@pytest.mark.sandbox
def test_the_next_kernel_finds_nothing_of_the_last(jail):
    run(jail, LEAVE)
    [outputs] = run(jail, LOOK)
    listing = text(outputs)
    checks.assert_true("listing" in listing and "left-behind" not in listing,
                       f"the second kernel saw the first one's folder: {listing!r}")
    sleepers = subprocess.run(["pgrep", "-u", str(jail.uid), "sleep"], capture_output=True, text=True)
    checks.assert_true(sleepers.stdout.strip() == "",
                       f"the first kernel's child outlived it: {sleepers.stdout}")


@pytest.mark.sandbox
def test_a_killed_kernel_is_seen_dead_and_the_server_lives_on(jail):
    with jail.workdir() as private:
        jail.prepare(private)
        (private / "kernel.json").write_text("{}")
        argv = [sys.executable, "-m", "ipykernel_launcher", "-f", str(private / "kernel.json")]
        process = jail.launch(argv, private, kernel_env())
        checks.assert_true(process.poll() is None, "a kernel just forked must be running")
        process.kill()
        checks.assert_true(process.wait(30) == -9, "a killed kernel must report -SIGKILL")
        checks.assert_true(jail.server.alive(), "the fork server must outlive its kernels")
        jail.cleanup()


def fork_from_inherited_server(jail, report):
    """In a forked child, as in a grading worker: fork through the server the parent started, stop it."""
    with jail.workdir() as folder:
        child = jail.server.spawn(None, folder, sandbox.jail_env(folder), jail.uid, jail.limits.rlimits())
        child.wait(60)
        report.put(("forked", (folder / "forked").exists(), jail.server.alive()))
    jail.close()


@pytest.mark.sandbox
def test_a_server_started_before_the_fork_serves_the_forked_worker_and_is_reaped_by_its_starter():
    jail = sandbox.Jail(sandbox.claim_uid())
    try:
        jail.start(kernel_env())  # returns while the server imports, as a grading run's does
        server = jail.server.process
        context = multiprocessing.get_context("fork")
        report = context.SimpleQueue()
        worker = context.Process(target=fork_from_inherited_server, args=(jail, report))
        worker.start()
        worker.join(120)
        got = None if report.empty() else report.get()
        checks.assert_true(worker.exitcode == 0 and got == ("forked", True, True),
                           f"the worker could not fork through the inherited server (exit {worker.exitcode}, "
                           f"it reported {got})")
        checks.assert_true(not jail.server.alive(), "the worker's close must stop the server it used")
    finally:
        jail.close()
    checks.assert_true(server.returncode == -9, f"the server was not reaped here: {server.returncode}")


@pytest.mark.sandbox
def test_a_grading_run_starts_each_workers_server_once_before_it_forks_them(tmp_path, monkeypatch):
    """The servers a run starts early are the ones its workers use: a kernel environment that
    differed from the one they were started with would make every worker start another."""
    starts = tmp_path / "starts"
    start = zygote.Zygote.start

    def counted(self):
        with starts.open("a") as log:
            log.write(f"{os.getpid()} {'--bare' in self.argv}\n")
        start(self)

    monkeypatch.setattr(zygote.Zygote, "start", counted)
    c = course.create(tmp_path / "course", ["01-neuron"])
    for student in ("ann", "bob", "cyd"):
        c.submit(student, "01-neuron", c.reference_answers("01-neuron"))
    statuses = grade.grade_all(c.root, "01-neuron", jobs=2, progress=False)
    checks.assert_true(set(statuses.values()) == {"graded"}, f"the reference answers were not graded: "
                                                             f"{statuses}")
    kernel_servers = [line.split()[0] for line in starts.read_text().splitlines() if line.endswith("False")]
    checks.assert_true(kernel_servers == [str(os.getpid())] * 2,
                       f"expected two fork servers, both started by the grading process {os.getpid()}; "
                       f"started by {kernel_servers}")


def serve(preload):
    """The first line the fork server says, started here unjailed with ``preload``."""
    ours, theirs = socket.socketpair()
    code = f"from coursetools import zygote; zygote.serve({theirs.fileno()}, {tuple(preload)!r})"
    proc = subprocess.Popen([sys.executable, "-c", code], pass_fds=[theirs.fileno()], cwd=ROOT,
                            stderr=subprocess.DEVNULL)
    theirs.close()
    ours.settimeout(60)
    with ours, ours.makefile("rb") as reader:
        line = reader.readline()
    proc.kill()
    proc.wait()
    return line


def test_the_preloads_leave_every_kernel_its_own_set_up():
    line = serve(zygote.PRELOAD)
    checks.assert_true(line == zygote.READY, f"the fork server refused its own preloads: {line!r}")


def test_a_preload_that_looks_for_ipython_is_refused():
    reply = json.loads(serve(("tqdm.auto",)))
    checks.assert_true("tqdm" in reply.get("error", ""), f"an early tqdm.auto must be named: {reply}")
