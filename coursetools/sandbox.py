"""The jail a student's kernel runs in: bubblewrap, an unprivileged uid, rlimits, a private tmpfs.

Each kernel gets its own small tmpfs (mounted by the grader on the host, so the grader and
the kernel share the IPC sockets and nothing else) as working directory, home and temp dir.
Inside the jail the root is an empty tmpfs holding read-only binds of the system folders
(``/usr``, ``/etc``, ...), the Python installation and the repository's ``nnlib`` and
``coursetools`` packages (code only: ``solutions/`` and every course folder stay out of reach),
plus the kernel's private folder, its only writable place. Network, PID, IPC and UTS namespaces
are new, so there is no network and the kernel cannot signal anything outside. The kernel runs as
an unprivileged uid (one per grading worker, so that one student's fork bomb cannot take the
process quota of another), with every capability dropped and rlimits on address space, CPU time,
file size and processes.

The clean room (:mod:`coursetools.cleanroom`) gets the same jail with ``wrap(..., clean=True)``: no
course package and no PYTHONPATH, the reference packages' folders inside the Python installation
(autograd's) covered by empty ones, and only ``wire.py`` and ``cleanroom_server.py`` bound, in
``/opt/coursetools-cleanroom``. :func:`check` proves both jails before a run.

The grader holds all of this as one object: a :class:`Jail` (one per grading worker, with its own
uid) or its unjailed twin :class:`NoJail` (``--no-sandbox``), with the same methods: a private
``workdir()``, ``wrap``/``clean_wrap`` for the kernel's and the clean room's command lines,
``prepare`` and ``give`` for the files the jailed uid must read, ``cleanup`` after a submission.
"""

import contextlib
import fcntl
import functools
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from . import ROOT

BASE_UID = 61000
TOOLS = ("bwrap", "setpriv", "prlimit", "mount", "umount")
# The system the kernel sees; courses, gradebooks and other students live elsewhere (/tmp, /work...).
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc")


class SandboxError(RuntimeError):
    """This machine cannot jail a kernel; the message says what is missing."""


@dataclass(frozen=True)
class Limits:
    memory_bytes: int = 6 << 30
    cpu_seconds: int = 600
    file_bytes: int = 64 << 20
    processes: int = 64
    private_bytes: int = 128 << 20

    def rlimits(self):
        """A kernel's rlimits, by their names in :mod:`resource` (soft and hard alike)."""
        return {"RLIMIT_AS": self.memory_bytes, "RLIMIT_CPU": self.cpu_seconds,
                "RLIMIT_FSIZE": self.file_bytes, "RLIMIT_NPROC": self.processes, "RLIMIT_CORE": 0}


PRLIMIT_FLAGS = {"RLIMIT_AS": "--as", "RLIMIT_CPU": "--cpu", "RLIMIT_FSIZE": "--fsize",
                 "RLIMIT_NPROC": "--nproc", "RLIMIT_CORE": "--core"}
# Set by ipykernel's launcher for a kernel whose parent it can poll; the jail's parent is outside
# its PID namespace.
UNSET = ("JPY_PARENT_PID",)


def python_prefixes():
    """The folders of the Python installation the kernel needs, deduplicated and outermost only."""
    paths = sorted({str(Path(p).resolve()) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)})
    return [p for p in paths if not any(p != q and p.startswith(q + "/") for q in paths)]


# The course's packages appear here, on PYTHONPATH: wherever an editable install points, the jail
# never sees the repository (and its solutions/) itself.
LIB = "/opt/coursetools-lib"


def readable_binds():
    """Folders bound read-only: the interpreter, where the system folders lack it."""
    return [p for p in python_prefixes() if not any(p == d or p.startswith(d + "/") for d in SYSTEM_DIRS)]


# The clean room's two files (see coursetools.cleanroom): no package, no nnlib, no autograd.
CLEAN = "/opt/coursetools-cleanroom"
CLEAN_FILES = ("wire.py", "cleanroom_server.py")
REFERENCE_PACKAGES = ("nnlib", "autograd", "coursetools")


@functools.cache
def reference_dirs():
    """The folders of the reference packages inside the bound Python installation (autograd in
    site-packages, say): the clean room sees an empty folder there. An editable install's
    packages live in the repository, which no jail binds."""
    import importlib.util

    bound = [*SYSTEM_DIRS, *readable_binds()]
    out = []
    for name in REFERENCE_PACKAGES:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        for folder in (spec.submodule_search_locations or []) if spec else []:
            real = str(Path(folder).resolve())
            if any(real == b or real.startswith(b.rstrip("/") + "/") for b in bound):
                out.append(real)
    return sorted(set(out))


def jail_env(private_dir, clean=False):
    """The environment variables a jail sets: its private folder as home, temp and config dirs,
    and the course packages' folder as the only PYTHONPATH (none in the clean room)."""
    private = str(private_dir)
    env = {"HOME": private, "TMPDIR": private, "MPLCONFIGDIR": private, "IPYTHONDIR": private}
    return env | ({"MPLBACKEND": "Agg"} if clean else {"PYTHONPATH": LIB})


def wrap(command, private_dir, uid, limits=Limits(), clean=False):
    """The argv that runs ``command`` jailed, with ``private_dir`` as its only writable folder.

    ``clean``: the clean room's jail, where the course packages are not bound and the reference
    packages' folders in the Python installation are empty; only :data:`CLEAN_FILES` appear, in
    :data:`CLEAN`. ``uid`` None keeps root inside the jail, without rlimits: for the trusted fork
    server only (:mod:`coursetools.zygote`), which drops to the jail uid in each kernel it forks.
    """
    argv = ["bwrap", "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
            "--unshare-cgroup-try", "--die-with-parent", "--new-session",
            *(x for name in UNSET for x in ("--unsetenv", name)), "--dev", "/dev", "--proc", "/proc",
            "--perms", "0755", "--tmpfs", "/tmp"]
    for folder in SYSTEM_DIRS:
        if os.path.islink(folder):
            argv += ["--symlink", os.readlink(folder), folder]
        elif os.path.isdir(folder):
            argv += ["--ro-bind", folder, folder]
    for path in readable_binds():
        argv += _parents(path) + ["--ro-bind", path, path]
    if clean:
        for folder in reference_dirs():
            argv += ["--perms", "0555", "--tmpfs", folder]
        argv += _parents(f"{CLEAN}/x") + ["--unsetenv", "PYTHONPATH"]
        for name in CLEAN_FILES:
            argv += ["--ro-bind", str(ROOT / "coursetools" / name), f"{CLEAN}/{name}"]
    else:
        argv += _parents(f"{LIB}/x")
        for package in ("nnlib", "coursetools"):
            argv += ["--ro-bind", str(ROOT / package), f"{LIB}/{package}"]
    private = str(private_dir)
    argv += _parents(private) + ["--bind", private, private, "--chdir", private]
    for name, value in jail_env(private, clean).items():
        argv += ["--setenv", name, value]
    if uid is not None:
        argv += ["--", "setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                 "--inh-caps=-all", "--bounding-set=-all", "--", "prlimit",
                 *(f"{PRLIMIT_FLAGS[name]}={value}" for name, value in limits.rlimits().items())]
    return [*argv, "--", *command]


def _parents(path):
    """Create the folders leading to ``path`` world-traversable, or the unprivileged uid stops there."""
    out = []
    for parent in reversed(Path(path).parents):
        if str(parent) != "/":
            out += ["--perms", "0755", "--dir", str(parent)]
    return out


class PrivateDir:
    """A size-capped tmpfs owned by ``uid``: the jailed kernel's whole writable world.

    In ``parent`` (default: the temp dir), which is a jail's :class:`Spool` when its kernels are
    forked by the fork server, whose jail sees the new mount by propagation.
    """

    def __init__(self, uid, limits=Limits(), parent=None):
        self.path = Path(tempfile.mkdtemp(prefix="coursetools-grade-", dir=parent))
        os.chmod(self.path, 0o755)
        _run(["mount", "-t", "tmpfs", "-o", f"size={limits.private_bytes},mode=0700,uid={uid},gid={uid}",
              "tmpfs", str(self.path)])

    def close(self):
        subprocess.run(["umount", "-l", str(self.path)], capture_output=True)
        shutil.rmtree(self.path, ignore_errors=True)


class Spool:
    """A folder mounted as a shared mount point: what is mounted under it later (the kernels'
    :class:`PrivateDir`) appears in every jail that binds it, the fork server's among them."""

    def __init__(self):
        self.path = Path(tempfile.mkdtemp(prefix="coursetools-spool-"))
        os.chmod(self.path, 0o711)  # each kernel reaches its own folder, and lists nothing
        _run(["mount", "--bind", str(self.path), str(self.path)])
        _run(["mount", "--make-shared", str(self.path)])

    def close(self):
        subprocess.run(["umount", "-l", str(self.path)], capture_output=True)
        shutil.rmtree(self.path, ignore_errors=True)


@functools.cache
def _font_lists():
    import matplotlib

    return sorted(Path(matplotlib.get_cachedir()).glob("fontlist-*.json"))


def seed_caches(private_dir):
    """Give a kernel's private folder (its MPLCONFIGDIR) this machine's matplotlib font list.

    A jail starts with an empty MPLCONFIGDIR, so matplotlib would rescan every system font in each
    kernel (about half a second). The list holds only font paths and metrics, nothing secret.
    """
    for path in _font_lists():
        shutil.copy(path, Path(private_dir) / path.name)


_claimed = []


def claim_uid():
    """A jail uid that no other process on this machine holds, kept until this process exits.

    :func:`kill_uid` kills every process of a uid, so two grading runs at once (a test and a
    benchmark, say) must never share one; a lock file per uid says who owns it.
    """
    for uid in range(BASE_UID + 1, BASE_UID + 1000):
        lock = open(Path(tempfile.gettempdir()) / f"coursetools-jail-{uid}.lock", "a")  # noqa: SIM115
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            continue
        _claimed.append(lock)
        return uid
    raise SandboxError("every jail uid is taken by other grading processes")


def kill_uid(uid, patience=10.0):
    """SIGKILL every process left running as the jail's ``uid`` (a fork bomb's children, say), and
    wait until they are gone: until reaped they still count against the uid's RLIMIT_NPROC, which
    the next kernel, forked at once by the fork server, would otherwise hit when it starts threads."""
    deadline = time.monotonic() + patience
    while (pids := _processes_of(uid)) and time.monotonic() < deadline:
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, 9)
        time.sleep(0.005)


def _processes_of(uid):
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            uids = next(line for line in status.read_text().splitlines() if line.startswith("Uid:"))
            if int(uids.split()[1]) == uid:
                found.append(int(status.parent.name))
        except (OSError, StopIteration, ValueError):
            continue  # the process ended while we looked
    return found


def _run(argv):
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise SandboxError(f"`{' '.join(argv[:4])} ...` failed: {proc.stderr.strip() or proc.returncode}")
    return proc


def check(limits=Limits()):
    """Raise :class:`SandboxError` unless a jailed Python can start here, with numpy and no network."""
    check_tools()
    jail = Jail(BASE_UID, limits)
    try:
        _probe_kernel_jails(jail)
        _probe_fork_server(jail)
    finally:
        jail.close()


def check_tools():
    """Raise :class:`SandboxError` unless this process is root and has the sandbox's tools."""
    if os.geteuid() != 0:
        raise SandboxError("the grading sandbox needs root (to mount a private tmpfs and drop to an "
                           "unprivileged uid); run as root or pass --no-sandbox")
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        raise SandboxError(f"the grading sandbox needs {', '.join(missing)} (Debian: apt-get install "
                           "bubblewrap util-linux mount); install them or pass --no-sandbox")


def _probe_kernel_jails(jail):
    with jail.workdir() as folder:
        probe = ("import socket, numpy, nnlib\n"
                 "try:\n    socket.create_connection(('127.0.0.1', 9), timeout=1)\n"
                 "except OSError as exc:\n    print('offline', exc.errno)\n")
        proc = subprocess.run(jail.wrap([sys.executable, "-c", probe], folder),
                              capture_output=True, text=True, timeout=120)
        if proc.returncode != 0 or "offline" not in proc.stdout:
            raise SandboxError(f"a jailed Python failed to start (exit {proc.returncode}): "
                               f"{proc.stderr.strip()[-800:]}; fix it or pass --no-sandbox")
        # The clean room's jail: numpy and its two files, and no way to the reference.
        probe = ("import numpy, os\n"
                 f"assert sorted(os.listdir({CLEAN!r})) == {sorted(CLEAN_FILES)!r}\n"
                 "for name in ('nnlib.activations', 'autograd.numpy', 'coursetools.checks'):\n"
                 "    try:\n        __import__(name)\n    except ImportError:\n        continue\n"
                 "    raise SystemExit('reachable: ' + name)\n"
                 "print('clean')\n")
        argv = jail.clean_wrap([sys.executable, "-I", "-c", probe], folder)
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0 or "clean" not in proc.stdout:
            raise SandboxError(f"the clean room's jail is not clean or does not start (exit "
                               f"{proc.returncode}): {(proc.stderr.strip() or proc.stdout.strip())[-800:]}")


def _probe_fork_server(jail):
    """The kernels' way in: a fork server, started before a kernel's folder is mounted, sees that
    folder (mount propagation), forks, and its child enters the jail as the uid and writes there."""
    from . import zygote

    server = zygote.Zygote(jail.server_argv(bare=True), timeout=60)
    try:
        server.start()
        with jail.workdir() as folder:
            child = server.spawn(None, folder, jail_env(folder), jail.uid, jail.limits.rlimits())
            child.wait(60)
            mark = folder / "forked"
            if not mark.is_file() or mark.stat().st_uid != jail.uid:
                raise SandboxError("the kernels' fork server forked a child that did not reach its folder "
                                   "as the jail uid (is mount propagation available here?)")
    except (zygote.ZygoteError, subprocess.TimeoutExpired) as exc:
        raise SandboxError(f"the kernels' fork server does not work here: {exc}") from None
    finally:
        server.close()


# ---------------------------------------------------------------------------- the jail as one object


class Jail:
    """Everything the grader does to jail one worker's kernels, behind one interface.

    ``uid`` is the worker's own jail uid (:func:`claim_uid`). :class:`NoJail` is its unjailed twin
    (``--no-sandbox``): same methods, plain folders and plain commands, so the grading code never
    asks which of the two it holds. Kernels are forked by the worker's fork server
    (:mod:`coursetools.zygote`), started by :meth:`start` or else at the first :meth:`launch`;
    :meth:`close` stops it.
    """

    clean_server = f"{CLEAN}/cleanroom_server.py"  # where clean_wrap's jail shows the server

    def __init__(self, uid, limits=Limits()):
        self.uid, self.limits = uid, limits
        self.spool = self.server = None

    @contextlib.contextmanager
    def workdir(self):
        """A private, size-capped, uid-owned folder for one kernel or clean room, gone afterwards."""
        private = PrivateDir(self.uid, self.limits, self._spool().path)
        try:
            yield private.path
        finally:
            private.close()

    def _spool(self):
        if self.spool is None:
            self.spool = Spool()
        return self.spool

    def wrap(self, command, workdir):
        return wrap(command, workdir, self.uid, self.limits)

    def clean_wrap(self, command, workdir):
        return wrap(command, workdir, self.uid, self.limits, clean=True)

    def launch(self, cmd, workdir, env=None, **_popen):
        """Start the kernel ``cmd`` (``python -m ipykernel_launcher ARGV``) in the jail, in ``workdir``
        with ``env``: forked by the fork server, as the jail uid; a Popen-like
        :class:`zygote.KernelProcess`. Its stdio is /dev/null, whatever else ``_popen`` asks."""
        from . import zygote

        if list(cmd[1:3]) != ["-m", "ipykernel_launcher"]:
            raise SandboxError(f"the jail starts ipykernel's kernel only, not {' '.join(cmd[:3])}")
        env = {k: v for k, v in (os.environ if env is None else env).items() if k not in UNSET}
        # What Python, BLAS and matplotlib read when they start (PYTHONHASHSEED, OPENBLAS_NUM_THREADS,
        # MPLBACKEND...) was read by the server, not by the kernel: a kernel gets a server started
        # with its own environment.
        if self.server is not None and self.server.env != env:
            self.server.close()
            self.server = None
        if self.server is None:
            self.start(env)
        try:
            return self.server.spawn(cmd[3:], workdir, env | jail_env(workdir), self.uid,
                                     self.limits.rlimits())
        except zygote.ZygoteError as exc:
            raise SandboxError(str(exc)) from None

    def start(self, env):
        """Start the fork server for kernels launched with ``env`` (less :data:`UNSET`), and return
        while it imports; :meth:`launch` starts it anyway, this only starts it sooner."""
        from . import zygote

        seed_caches(self._spool().path)  # the server's matplotlib reads its font list there, once
        self.server = zygote.Zygote(self.server_argv(), {k: v for k, v in env.items() if k not in UNSET})
        self.server.start()

    def server_argv(self, bare=False):
        """The fork server's command line, jailed as root with the spool as its folder (``bare``:
        without the kernel's imports, for :func:`check`)."""
        command = [sys.executable, "-m", "coursetools.zygote", "{fd}", *(["--bare"] if bare else [])]
        return wrap(command, self._spool().path, None, self.limits)

    def prepare(self, workdir):
        """Seed the folder's caches and hand everything in it to the jail uid, which must read it."""
        seed_caches(workdir)
        for item in Path(workdir).iterdir():
            os.chown(item, self.uid, self.uid)

    def give(self, path):
        """Let the jail uid read one file the grader wrote (a kernel's connection file)."""
        os.chown(path, self.uid, self.uid)

    def cleanup(self):
        """Kill whatever the jail uid left running (a fork bomb's children, say)."""
        kill_uid(self.uid)

    def close(self):
        """Stop the fork server and unmount the spool; the jail can be used again afterwards."""
        if self.server is not None:
            self.server.close()
            self.server = None
        if self.spool is not None:
            self.spool.close()
            self.spool = None


class NoJail:
    """The unjailed twin of :class:`Jail`, for trusted code (``--no-sandbox``, tests without root)."""

    clean_server = str(ROOT / "coursetools" / "cleanroom_server.py")

    @contextlib.contextmanager
    def workdir(self):
        with tempfile.TemporaryDirectory(prefix="coursetools-grade-") as folder:
            yield Path(folder)

    def wrap(self, command, workdir):
        return list(command)

    def clean_wrap(self, command, workdir):
        return list(command)

    def launch(self, cmd, workdir, **popen):
        from jupyter_client.launcher import launch_kernel

        return launch_kernel(cmd, **{**popen, "cwd": str(workdir)})

    def start(self, env):
        pass

    def prepare(self, workdir):
        pass

    def give(self, path):
        pass

    def cleanup(self):
        pass

    def close(self):
        pass
