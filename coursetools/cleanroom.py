"""The grader's end of the clean room: where the functions of ``# nnlib: forbidden`` answers run.

Why. The student's kernel must be able to import nnlib (the chapters' demos need it), so a function
defined there can reach the reference in many ways: a module the notebook imported, a global set by
another cell, a replacement after the answer cell, ``sys.modules``, ``importlib``, ``getattr`` on
builtins, an nnlib object in a global, the reference's source read from disk... Rather than look
for each, the graded functions of forbidden answers are called somewhere the reference does not
exist: a second jailed process (``python -I`` on ``cleanroom_server.py``, with ``wire.py`` beside
it and nothing else of the course; the reference packages' folders are empty there), built only
from the SOURCE notebook's helper cells that do not touch the reference and the SUBMISSION's answer
cells, each loaded right after the kernel ran it, so that both see the notebook in the same state.

A global the answer cells read but do not define (the data a chapter prepares in an ordinary cell:
``X_spiral``) is fetched from the kernel as data (:func:`coursetools.wire.global_value`): numbers,
arrays, Generators, containers of them, never code. A module, a function or an nnlib object from
another cell is refused, and that refusal, like every import of nnlib/autograd/coursetools and every
open of their files, is a *route*, reported with the reply so that the grader sends the submission
to manual grading with a reason naming it. Points for tests of forbidden answers come from here.

Without the sandbox (``--no-sandbox``, a trusted machine) the room is a plain subprocess; its audit
hook still refuses those imports, but the files are there, so that mode is not a defence.
"""

import contextlib
import functools
import json
import os
import select
import subprocess
import sys
import time

from nbclient.exceptions import CellTimeoutError, DeadKernelError

from . import ROOT, sandbox, wire

START_TIMEOUT = 60


class CleanRoom:
    """One submission's clean room, started at once (it loads numpy while the kernel starts).

    ``jail`` is a :class:`sandbox.Jail` (or its unjailed twin), ``private_dir`` a folder from its
    ``workdir()``; ``fetch(name)`` answers the room's requests for a global (see
    :func:`wire.global_value`).
    """

    def __init__(self, private_dir, jail, fetch, timeout):
        self.fetch, self.timeout, self.seen = fetch, timeout, 0
        argv = jail.clean_wrap([sys.executable, "-I", jail.clean_server], private_dir)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "JPY"))}
        env.update(MPLBACKEND="Agg", OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, cwd=str(private_dir), env=env)
        self._buffer = b""
        self._ready = False

    # ------------------------------------------------------------------ the line protocol

    def _send(self, message):
        self._send_text(json.dumps(message))

    def _send_text(self, text):
        """One line of JSON ``text`` (``json.dumps`` writes no newline into it)."""
        try:
            self.proc.stdin.write((text + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise DeadKernelError("the clean room died (killed, out of memory or over a limit)") from None

    def _receive(self, deadline):
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                self.close()
                raise CellTimeoutError("a call in the clean room ran longer than the time limit")
            ready, _, _ = select.select([self.proc.stdout], [], [], min(left, 1.0))
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 1 << 20)
                if not chunk:
                    raise DeadKernelError("the clean room died (killed, out of memory or over a limit)")
                self._buffer += chunk
                if len(self._buffer) > wire.MAX_CHARS:
                    self.close()
                    raise DeadKernelError("the clean room sent more than the grader reads")
        line, self._buffer = self._buffer.split(b"\n", 1)
        try:
            message = wire.loads(line.decode("utf-8", "replace"))
        except wire.WireError:
            message = None
        return message if isinstance(message, dict) else {"op": "done", "error": "malformed message"}

    def _exchange(self, message, answer=None, timeout=None):
        """Send ``message``; serve the room's fetches and callbacks until it is done; its last message."""
        if not self._ready:
            first = self._receive(time.monotonic() + START_TIMEOUT)
            if first.get("op") != "ready":
                raise DeadKernelError("the clean room did not start")
            self._ready = True
        self._send(message)
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            reply = self._receive(deadline)
            op = reply.get("op")
            if op == "fetch":
                self._send(self.fetch(str(reply.get("name"))))
            elif op == "callback" and answer is not None:
                self._send_text(answer(str(reply.get("prompt", ""))))  # already JSON
            elif op == "callback":
                self._send({"raised": "RuntimeError", "message": "no callback here"})
            else:
                return reply

    def new_routes(self, reply):
        """The routes the room reported since the last time it was asked."""
        routes = reply.get("routes")
        routes = [str(r)[:500] for r in routes] if isinstance(routes, list) else []
        fresh, self.seen = routes[self.seen:], max(self.seen, len(routes))
        return fresh

    # ------------------------------------------------------------------ what the grader asks

    def load(self, cells, imports):
        """Run ``cells`` ([{"label", "code", "helper"}]) in the room; the new routes."""
        return self.new_routes(self._exchange({"op": "load", "cells": cells, "imports": imports,
                                               "stand_ins": reference_modules()}))

    def call(self, name, request, answer):
        """``Link.call`` for the room: the reply of the student's ``name`` on ``request``, with the
        routes met on the way under ``"routes"``."""
        done = self._exchange({"op": "call", "name": name, "request": request}, answer)
        try:
            reply = wire.loads(done.get("reply"))
        except wire.WireError:
            reply = None
        if not isinstance(reply, dict) or not ({"ok", "raised"} & set(reply)):
            reply = {"raised": "RuntimeError", "message": "the clean room gave no result"}
        reply["routes"] = self.new_routes(done)
        return reply

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        for stream in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError):
                stream.close()


@functools.cache
def reference_modules():
    """The dotted names of the reference's modules (``nnlib.activations``...), for the room's stand-ins."""
    names = list(sandbox.REFERENCE_PACKAGES)
    for package in sandbox.REFERENCE_PACKAGES:
        folder = ROOT / package
        if folder.is_dir():
            names += [f"{package}.{'.'.join(p.relative_to(folder).with_suffix('').parts)}"
                      for p in folder.rglob("*.py") if p.name != "__init__.py"]
            names += [f"{package}.{'.'.join(p.parent.relative_to(folder).parts)}"
                      for p in folder.rglob("__init__.py") if p.parent != folder]
    return sorted(set(names))


def is_helper_source(tree, reference_names):
    """A helper cell of the release the room may run: only imports of modules other than the
    reference, definitions and assignments, reading no name the reference's imports bind."""
    import ast

    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            if any(m.split(".")[0] in sandbox.REFERENCE_PACKAGES for m in modules):
                return False
        elif not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Assign,
                                   ast.AnnAssign, ast.Expr)) or (
                isinstance(node, ast.Expr) and not isinstance(node.value, ast.Constant)):
            return False
    from .judge import free_names

    return not (set(free_names(ast.unparse(tree))) & reference_names)

