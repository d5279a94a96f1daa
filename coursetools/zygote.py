"""One grading worker's fork server: the kernel's imports done once, each student's kernel forked.

A jailed kernel used to start from nothing for every submission: bubblewrap, then Python, then
ipykernel, numpy, matplotlib and nnlib, about 0.8 s of CPU before the notebook's first line ran.
The fork server pays that once per worker. It is a process in the worker's jail (the same
bubblewrap jail as a kernel's, see :func:`sandbox.wrap`, with the worker's spool folder as its
writable place) that imports :data:`PRELOAD` and then waits; for each kernel the grader asks for,
it forks, and the child becomes that kernel (:func:`become_kernel`).

Why a student cannot reach another student through it:
* the server runs as root inside the jail and every kernel as the worker's unprivileged uid, so no
  kernel can signal, trace or write into the server; the child drops every capability, sets
  no_new_privs and the rlimits before it runs anything of the submission;
* nothing of a student's run is in the server: it forks before any cell, from a process that ran
  only the imports below (which find no IPython at import time, so each kernel still wires up its
  own matplotlib, widgets and progress bars, :data:`NOT_BEFORE_FORK`);
* each kernel's private folder is a fresh tmpfs the grader mounts under the spool (it reaches the
  server's jail by mount propagation), and between two submissions the grader kills every process
  of the uid (:meth:`sandbox.Jail.cleanup`), as it always did;
* the grader talks to the server over a socket pair it inherits at start (no path in any file
  system), and gets back a pidfd of each kernel, which it waits on and signals: no pid to reuse.

The server's side (:func:`serve`) runs as ``python -m coursetools.zygote FD`` in the jail; the
grader's side is :class:`Zygote`.
"""

import contextlib
import ctypes
import json
import os
import select
import signal
import socket
import subprocess
import sys
from pathlib import Path

# Imported once, before any fork: what the kernels of most chapters import first.
PRELOAD = ("ipykernel.kernelapp", "ipykernel.ipkernel", "numpy", "matplotlib.pyplot", "nnlib",
           "nnlib.plot", "nnlib.widgets", "coursetools.wire")
# Modules that look for a running IPython when they are imported and set themselves up for it
# (widget comms, the inline backend's hooks, tqdm's notebook bars): imported before the fork,
# they would find none, and every kernel would lose that set-up. The server refuses to start then.
NOT_BEFORE_FORK = ("ipywidgets", "matplotlib_inline", "tqdm")
# The inline backend, which ipykernel would select when it starts: matplotlib reads MPLBACKEND
# when it is imported, which here is before the fork.
MPLBACKEND = "module://matplotlib_inline.backend_inline"
READY = b"ready\n"
PR_SET_NO_NEW_PRIVS, PR_CAPBSET_DROP = 38, 24
CAPABILITY_VERSION_3 = 0x20080522


class ZygoteError(RuntimeError):
    """The fork server could not start, or could not fork a kernel."""


# ---------------------------------------------------------------------------- in the jail


def serve(fd, preload=PRELOAD):
    """Import ``preload``, say ready, then fork one kernel per request read from the socket ``fd``.

    Run as ``python -m coursetools.zygote``: ``sys.path[0]`` is the server's own folder.
    """
    channel = socket.socket(fileno=fd)
    os.environ.setdefault("MPLBACKEND", MPLBACKEND)
    import importlib

    for name in preload:
        importlib.import_module(name)
    early = [m for m in sys.modules if m.split(".")[0] in NOT_BEFORE_FORK]
    threads = len(os.listdir("/proc/self/task"))
    if early or threads != 1:  # a thread does not survive fork; an early import loses its set-up
        channel.sendall(json.dumps({"error": f"preloading imported {early} and left {threads} "
                                             "threads"}).encode() + b"\n")
        return
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel's parent reaps nothing: no zombies
    channel.sendall(READY)
    reader = channel.makefile("rb")
    for line in reader:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code = 70
            try:
                reader.close()
                channel.close()
                enter_jail(request)
                if request["argv"] is None:  # the sandbox's check: this far, then a mark
                    open("forked", "w").close()
                else:
                    become_kernel(request["argv"])
                code = 0
            finally:
                os._exit(code)  # never back into this loop, whatever happened
        pidfd = os.pidfd_open(pid)
        socket.send_fds(channel, [b"forked\n"], [pidfd])
        os.close(pidfd)


def enter_jail(request):
    """In the forked child: become what ``bwrap ... setpriv ... prlimit`` made of a kernel's process
    (its own session, stdio on /dev/null, no other descriptor, ``cwd`` and ``env``, the jail uid)."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # a student's subprocess.run must reap its child
    os.setsid()
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # as a kernel started with stdin, stdout and stderr on /dev/null
        os.dup2(null, fd)
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    drop_privileges(request["uid"], request["limits"])


def become_kernel(argv):
    """Run ipykernel as ``python -m ipykernel_launcher ARGV`` would."""
    import numpy as np
    from ipykernel import kernelapp

    np.random.seed()  # each kernel's legacy global generator from fresh entropy, as a new process's
    # `python -m` put the server's folder first; ipykernel's launcher takes the folder it runs in out.
    del sys.path[0]
    sys.argv = ["ipykernel_launcher", *argv]
    kernelapp.launch_new_instance()


def drop_privileges(uid, limits):
    """Become ``uid`` with no capability and no way to regain one, under ``limits``; verified."""
    import resource

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    last = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    for cap in range(last + 1):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), f"prctl(PR_CAPBSET_DROP, {cap})")
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)  # from root to another uid: the effective and permitted sets empty
    # ... but not the inheritable set, through which a program with file capabilities would regain them.
    header = (ctypes.c_uint32 * 2)(CAPABILITY_VERSION_3, 0)
    if libc.capset(header, (ctypes.c_uint32 * 6)()) != 0:
        raise OSError(ctypes.get_errno(), "capset")
    for name, value in limits.items():
        which = getattr(resource, name)
        resource.setrlimit(which, (value, value))
    lines = Path("/proc/self/status").read_text().splitlines()
    status = dict(line.split(":", 1) for line in lines if ":" in line)
    caps = [int(status[k], 16) for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")]
    uids = {int(x) for x in status["Uid"].split() + status["Gid"].split()}
    if any(caps) or uids != {uid} or os.getgroups():
        raise OSError(f"the kernel kept privileges: caps {caps}, ids {uids}, groups {os.getgroups()}")


# ---------------------------------------------------------------------------- the grader's side


class KernelProcess:
    """A forked kernel as jupyter_client's provisioner sees a ``Popen``: poll, wait, signal, kill.

    It is not this process's child (the server is its parent and reaps it), so it is held by a
    pidfd: readable once the kernel has exited, and a signal target that can never be another
    process. The exit status is not known here: 0 when it exited, -SIGKILL when it was killed.
    """

    stdin = stdout = stderr = None

    def __init__(self, pidfd):
        self.pidfd, self.returncode = pidfd, None
        fdinfo = Path(f"/proc/self/fdinfo/{pidfd}").read_text().splitlines()
        self.pid = int(next(line.split()[1] for line in fdinfo if line.startswith("Pid:")))
        self._killed = False

    def poll(self):
        if self.returncode is None and select.select([self.pidfd], [], [], 0)[0]:
            self.returncode = -signal.SIGKILL if self._killed else 0
            os.close(self.pidfd)
        return self.returncode

    def wait(self, timeout=None):
        if self.returncode is None and not select.select([self.pidfd], [], [], timeout)[0]:
            raise subprocess.TimeoutExpired("kernel", timeout)
        return self.poll()

    def send_signal(self, signum):
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self.pidfd, signum)
                self._killed |= signum == signal.SIGKILL

    def kill(self):
        self.send_signal(signal.SIGKILL)

    def terminate(self):
        self.send_signal(signal.SIGTERM)

    def __del__(self):
        if self.returncode is None:
            with contextlib.suppress(OSError):
                os.close(self.pidfd)


class Zygote:
    """The grader's handle on one worker's fork server, started by :meth:`start`.

    ``argv`` is the server's jailed command line (from :meth:`sandbox.Jail.server_argv`), with
    ``{fd}`` where the server's end of the socket pair goes; ``env`` its environment (default:
    this process's), which is its kernels' as far as what Python and the libraries read at start.

    :meth:`start` returns at once and the server imports while the caller goes on; the first
    :meth:`spawn` waits for it to be ready. A handle may be started in one process and used in a
    child forked from it (a grading run starts its workers' servers before it forks them): the
    server is watched and killed through a pidfd, which works from any process holding it, and is
    reaped by the process that started it.
    """

    def __init__(self, argv, env=None, timeout=120):
        self.argv, self.env, self.timeout = argv, env, timeout
        self.process = self.channel = self.reader = self.pidfd = None
        self.ready = False

    def alive(self):
        return self.process is not None and not select.select([self.pidfd], [], [], 0)[0]

    def start(self):
        ours, theirs = socket.socketpair()
        argv = [a.replace("{fd}", str(theirs.fileno())) for a in self.argv]
        self.process = subprocess.Popen(argv, pass_fds=[theirs.fileno()], env=self.env,
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE)
        self.pidfd, self.owner, self.ready = os.pidfd_open(self.process.pid), os.getpid(), False
        theirs.close()
        self.channel, self.reader = ours, ours.makefile("rb")
        ours.settimeout(self.timeout)

    def _await_ready(self):
        try:
            line = self.reader.readline()
        except OSError as exc:
            line = f"{exc}".encode()
        if line != READY:
            stderr = self._stderr()
            self.close()
            raise ZygoteError(f"the kernels' fork server did not start: {line.decode(errors='replace')[:500]}"
                              f"{stderr}")
        self.ready = True

    def spawn(self, argv, cwd, env, uid, limits):
        """A :class:`KernelProcess`: ``python -m ipykernel_launcher ARGV``, forked, in ``cwd`` as ``uid``.

        ``argv`` None forks a child that only enters the jail and leaves the file ``forked`` in ``cwd``.
        """
        if not self.alive() and self.ready:
            self.close()
        if self.process is None:
            self.start()
        if not self.ready:
            self._await_ready()
        request = {"argv": None if argv is None else list(argv), "cwd": str(cwd), "env": dict(env),
                   "uid": uid, "limits": limits}
        try:
            self.channel.sendall(json.dumps(request).encode() + b"\n")
            message, fds, _, _ = socket.recv_fds(self.channel, 64, 1)
        except OSError as exc:
            self.close()
            raise ZygoteError(f"the kernels' fork server failed: {exc}") from None
        if message != b"forked\n" or len(fds) != 1:
            for fd in fds:
                os.close(fd)
            stderr = self._stderr()
            self.close()
            raise ZygoteError(f"the kernels' fork server failed to fork a kernel{stderr}")
        return KernelProcess(fds[0])

    def _stderr(self):
        if self.process is None or self.alive():
            return ""
        return f" ({self.process.stderr.read().decode(errors='replace').strip()[-800:]})"

    def close(self):
        for stream in (self.reader, self.channel):
            if stream is not None:
                stream.close()
        self.reader = self.channel = None
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
        if os.getpid() == self.owner:
            self.process.wait()
        os.close(self.pidfd)
        self.process.stderr.close()
        self.process = self.pidfd = None
        self.ready = False


if __name__ == "__main__":
    serve(int(sys.argv[1]), () if sys.argv[2:] == ["--bare"] else PRELOAD)
