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
"""

import fcntl
import functools
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
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


def wrap(command, private_dir, uid, limits=Limits(), clean=False):
    """The argv that runs ``command`` jailed, with ``private_dir`` as its only writable folder.

    ``clean``: the clean room's jail, where the course packages are not bound and the reference
    packages' folders in the Python installation are empty; only :data:`CLEAN_FILES` appear, in
    :data:`CLEAN`.
    """
    argv = ["bwrap", "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
            "--unshare-cgroup-try", "--die-with-parent", "--new-session",
            # The kernel's parent is outside the PID namespace: ipykernel must not poll for it.
            "--unsetenv", "JPY_PARENT_PID", "--dev", "/dev", "--proc", "/proc",
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
        argv += _parents(f"{CLEAN}/x") + ["--unsetenv", "PYTHONPATH", "--setenv", "MPLBACKEND", "Agg"]
        for name in CLEAN_FILES:
            argv += ["--ro-bind", str(ROOT / "coursetools" / name), f"{CLEAN}/{name}"]
    else:
        argv += _parents(f"{LIB}/x") + ["--setenv", "PYTHONPATH", LIB]
        for package in ("nnlib", "coursetools"):
            argv += ["--ro-bind", str(ROOT / package), f"{LIB}/{package}"]
    private = str(private_dir)
    argv += _parents(private) + ["--bind", private, private, "--chdir", private,
                                 "--setenv", "HOME", private, "--setenv", "TMPDIR", private,
                                 "--setenv", "MPLCONFIGDIR", private, "--setenv", "IPYTHONDIR", private]
    argv += ["--", "setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
             "--inh-caps=-all", "--bounding-set=-all", "--",
             "prlimit", f"--as={limits.memory_bytes}", f"--cpu={limits.cpu_seconds}",
             f"--fsize={limits.file_bytes}", f"--nproc={limits.processes}", "--core=0", "--"]
    return argv + list(command)


def _parents(path):
    """Create the folders leading to ``path`` world-traversable, or the unprivileged uid stops there."""
    out = []
    for parent in reversed(Path(path).parents):
        if str(parent) != "/":
            out += ["--perms", "0755", "--dir", str(parent)]
    return out


class PrivateDir:
    """A size-capped tmpfs owned by ``uid``: the jailed kernel's whole writable world."""

    def __init__(self, uid, limits=Limits()):
        self.path = Path(tempfile.mkdtemp(prefix="coursetools-grade-"))
        os.chmod(self.path, 0o755)
        _run(["mount", "-t", "tmpfs", "-o", f"size={limits.private_bytes},mode=0700,uid={uid},gid={uid}",
              "tmpfs", str(self.path)])

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


def kill_uid(uid):
    """SIGKILL every process left running as the jail's ``uid`` (a fork bomb's children, say)."""
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            uids = next(line for line in status.read_text().splitlines() if line.startswith("Uid:"))
            if int(uids.split()[1]) == uid:
                os.kill(int(status.parent.name), 9)
        except (OSError, StopIteration, ValueError):
            continue  # the process ended while we looked


def _run(argv):
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise SandboxError(f"`{' '.join(argv[:4])} ...` failed: {proc.stderr.strip() or proc.returncode}")
    return proc


def check(limits=Limits()):
    """Raise :class:`SandboxError` unless a jailed Python can start here, with numpy and no network."""
    if os.geteuid() != 0:
        raise SandboxError("the grading sandbox needs root (to mount a private tmpfs and drop to an "
                           "unprivileged uid); run as root or pass --no-sandbox")
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        raise SandboxError(f"the grading sandbox needs {', '.join(missing)} (Debian: apt-get install "
                           "bubblewrap util-linux mount); install them or pass --no-sandbox")
    private = PrivateDir(BASE_UID, limits)
    try:
        probe = ("import socket, numpy, nnlib\n"
                 "try:\n    socket.create_connection(('127.0.0.1', 9), timeout=1)\n"
                 "except OSError as exc:\n    print('offline', exc.errno)\n")
        kernel = wrap([sys.executable, "-c", probe], private.path, BASE_UID, limits)
        # The clean room's jail: numpy and its two files, and no way to the reference.
        probe = ("import numpy, os\n"
                 f"assert sorted(os.listdir({CLEAN!r})) == {sorted(CLEAN_FILES)!r}\n"
                 "for name in ('nnlib.activations', 'autograd.numpy', 'coursetools.checks'):\n"
                 "    try:\n        __import__(name)\n    except ImportError:\n        continue\n"
                 "    raise SystemExit('reachable: ' + name)\n"
                 "print('clean')\n")
        room = wrap([sys.executable, "-I", "-c", probe], private.path, BASE_UID, limits, clean=True)
        # Both jails start at once: each is mostly a Python loading numpy.
        with ThreadPoolExecutor(2) as pool:
            kernel, room = pool.map(lambda argv: subprocess.run(argv, capture_output=True, text=True,
                                                                timeout=120), (kernel, room))
        if kernel.returncode != 0 or "offline" not in kernel.stdout:
            raise SandboxError(f"a jailed Python failed to start (exit {kernel.returncode}): "
                               f"{kernel.stderr.strip()[-800:]}; fix it or pass --no-sandbox")
        if room.returncode != 0 or "clean" not in room.stdout:
            raise SandboxError(f"the clean room's jail is not clean or does not start (exit "
                               f"{room.returncode}): {(room.stderr.strip() or room.stdout.strip())[-800:]}")
    finally:
        private.close()
