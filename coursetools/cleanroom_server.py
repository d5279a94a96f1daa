"""The clean room: a plain Python process that runs only a submission's forbidden answer cells.

Started by :class:`coursetools.cleanroom.CleanRoom` (``python -I`` on this file, jailed with no
``nnlib``, ``autograd`` or ``coursetools`` in its file system: only this file and ``wire.py`` sit
beside it). It imports nothing of the course package; ``wire.py`` is loaded from its file. It speaks
JSON lines with the grader on the stdin and stdout it was started with; everything the student's code
reads or prints goes to /dev/null instead.

Requests (grader -> room), one JSON object a line:
* ``{"op": "load", "cells": [{"label", "code", "helper"}], "imports": {name: statement}}``: run the
  release's helper cells (errors ignored) and the student's answer cells, in order;
* ``{"op": "call", "name", "request"}``: call a student's function (``wire.serve``).
While it works, the room may ask (room -> grader) ``{"op": "fetch", "name"}`` for a global no cell
here defines (answered ``wire.global_value``: data only, never code) or ``{"op": "callback",
"prompt"}`` for a function of the test; it ends with ``{"op": "done", "reply"?, "routes": [...]}``.

A *route* is how the student's code reached for what it may not use, in words: an import of the
reference (every import of those packages is refused and noted by an audit hook, which the student's
code cannot remove), an open of one of their files, or a read of a global that comes from another
cell of the notebook and is not data (a module, a function, an object built by nnlib).
"""

import ast
import builtins
import contextlib
import importlib.util
import json
import os
import sys

FORBIDDEN = ("nnlib", "autograd", "coursetools")
HERE = os.path.dirname(os.path.abspath(__file__))


def _load_wire():
    spec = importlib.util.spec_from_file_location("coursetools_wire", os.path.join(HERE, "wire.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.nnlib_allowed = False
    return module


wire = _load_wire()
routes, state = [], {"where": "the clean room", "student": False}
# Text fetched from the kernel (a string is data): running one as code is a route.
fetched_text = set()
# The kernel's own names, never the student's: a NameError here, not a fetch.
KERNEL_ONLY = {"get_ipython", "display", "In", "Out", "exit", "quit", "_", "__", "___", "_ih", "_oh", "_dh"}


def note(route):
    if state["student"]:
        text = f"{state['where']}: {route}"
        if text not in routes:
            routes.append(text)


def _audit(event, args):
    if event == "import":
        name = str(args[0])
        if name.split(".")[0] in FORBIDDEN:
            note(f"imports {name}, which this exercise forbids")
            raise ImportError(f"{name} cannot be imported in this exercise (numpy only)")
    elif event == "compile" and state["student"] and args and isinstance(args[0], (str, bytes)):
        text = args[0].decode("utf-8", "replace") if isinstance(args[0], bytes) else args[0]
        if any(t in text for t in fetched_text) or any(f"{p}." in text or f"import {p}" in text
                                                       for p in FORBIDDEN):
            note("runs as code a text that comes from another cell of the notebook or names the reference")
    elif event == "open" and args and isinstance(args[0], (str, bytes)):
        path = os.fsdecode(args[0])
        parts = path.replace("\\", "/").split("/")
        if any(p in FORBIDDEN for p in parts[:-1]) or any(parts[-1] == f"{p}.py" for p in FORBIDDEN):
            note(f"opens {path}, a file of the reference library")
            raise PermissionError(f"{path}: not readable in this exercise")


def _channel():
    """The protocol's two ends; fds 0, 1 and 2 then point at /dev/null for the student's code."""
    inp = os.fdopen(os.dup(0), "r", encoding="utf-8", newline="\n")
    out = os.fdopen(os.dup(1), "w", encoding="utf-8", newline="\n")
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    return inp, out


class StandIn(type(sys)):
    """What ``sys.modules`` holds here for the reference's modules: any use of one is a route."""

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        note(f"uses {self.__name__}.{attr}, which this exercise forbids (the reference does not exist here)")
        raise AttributeError(f"{self.__name__} does not exist in this exercise (numpy only)")


class Refusal:
    """First on ``sys.meta_path``: a module of the reference that no stand-in covers is refused."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name.split(".")[0] in FORBIDDEN:
            note(f"imports {name}, which this exercise forbids")
            raise ImportError(f"{name} cannot be imported in this exercise (numpy only)")
        return None


_real_import = builtins.__import__


def _import(name, globals=None, locals=None, fromlist=(), level=0):
    """``__import__`` that names an import of the reference even where a stand-in answers it."""
    if level == 0 and str(name).split(".")[0] in FORBIDDEN:
        note(f"imports {name}, which this exercise forbids")
    return _real_import(name, globals, locals, fromlist, level)


def install_stand_ins(names):
    for name in sorted(set(names) | set(FORBIDDEN)):
        if name.split(".")[0] in FORBIDDEN and name not in sys.modules:
            module = StandIn(name)
            module.__path__ = []  # a package, so that its submodules' names resolve to stand-ins too
            sys.modules[name] = module


def _texts(value, depth=0):
    if isinstance(value, str) and len(value) >= 40:
        yield value
    elif isinstance(value, (list, tuple)) and depth < 8:
        for v in value:
            yield from _texts(v, depth + 1)
    elif isinstance(value, dict) and depth < 8:
        for v in value.values():
            yield from _texts(v, depth + 1)


class Room:
    def __init__(self, inp, out):
        self.inp, self.out = inp, out
        self.imports = {}      # name -> an import statement of the release (numpy, math...), run on demand
        self.own = set()       # names the answer cells define: never fetched from the kernel
        self.namespace = {"__name__": "__main__", "__builtins__": Resolver(self, builtins.__dict__)}

    def send(self, message):
        self.out.write(json.dumps(message) + "\n")
        self.out.flush()

    def receive(self):
        line = self.inp.readline()
        if not line:
            raise SystemExit(0)
        return wire.loads(line)

    def ask(self, message):
        self.send(message)
        return self.receive()

    def fetch(self, name):
        """The global ``name`` for the student's code, from the release's imports or as data from the
        kernel; a KeyError (a NameError to the student's code) if neither may give it."""
        if name in self.imports:
            state_before = state["student"]
            state["student"] = False  # the release's own import, not the student's
            try:
                exec(compile(self.imports[name], "<release imports>", "exec"), self.namespace)
            finally:
                state["student"] = state_before
            if name in self.namespace:
                return self.namespace[name]
        if name in self.own or name.startswith("__") or name in KERNEL_ONLY:
            raise KeyError(name)
        reply = self.ask({"op": "fetch", "name": name})
        if isinstance(reply, dict) and "ok" in reply:
            try:
                value = wire.Wire().decode(reply["ok"])
            except wire.WireError:
                reply = {"not_data": "an object that cannot exist without nnlib"}
            else:
                fetched_text.update(_texts(value))
                self.namespace[name] = value
                return value
        if isinstance(reply, dict) and "not_data" in reply:
            note(f"reads {name!r}, which no answer cell defines: it comes from another cell of the "
                 f"notebook ({str(reply['not_data'])[:200]})")
        raise KeyError(name)

    def load(self, request):
        self.imports.update({str(k): str(v) for k, v in request.get("imports", {}).items()})
        install_stand_ins([str(n) for n in request.get("stand_ins", [])])
        for cell in request.get("cells", []):
            code = _plain_python(str(cell.get("code", "")))
            if cell.get("helper"):
                state.update(where="a helper cell", student=False)
                # A helper that needs the notebook's other cells stays out.
                with contextlib.suppress(BaseException):
                    exec(compile(code, "<helper>", "exec"), self.namespace)
                continue
            self.run_answer(code)
        state.update(where="the clean room", student=False)
        return {}

    def run_answer(self, code):
        """An answer cell, statement by statement: it stops at an error as in a kernel, except that
        a NameError (a demo line reading the notebook's other cells) skips only its statement."""
        try:
            tree = ast.parse(code)
        except SyntaxError:
            return
        self.own |= _defined(tree)
        state.update(where="the answer cell", student=True)
        for statement in tree.body:
            try:
                exec(compile(ast.Module([statement], []), "<answer>", "exec"), self.namespace)
            except NameError:
                continue
            except BaseException:
                return

    def call(self, request):
        name = str(request.get("name"))
        state.update(where=f"{name}()", student=True)
        try:
            text = wire.serve(self.namespace, name, str(request.get("request")),
                              lambda prompt: json.dumps(self.ask({"op": "callback", "prompt": prompt})))
        finally:
            state.update(where="the clean room", student=False)
        return {"reply": text}

    def serve(self):
        while True:
            request = self.receive()
            op = request.get("op") if isinstance(request, dict) else None
            if op == "load":
                answer = self.load(request)
            elif op == "call":
                answer = self.call(request)
            else:
                answer = {"error": f"unknown request {str(op)[:40]!r}"}
            self.send({"op": "done", **answer, "routes": list(routes)})


class Resolver(dict):
    """The builtins of the room's namespace: a name found nowhere else is asked of :meth:`Room.fetch`."""

    def __init__(self, room, names):
        super().__init__(names)
        self._room = room

    def __missing__(self, name):
        return self._room.fetch(name)


def _plain_python(code):
    """An IPython cell as plain Python: a line magic or shell line (``%...``, ``!...``) does nothing."""
    lines = []
    for line in code.splitlines():
        stripped = line.lstrip()
        if stripped.startswith(("%", "!")):
            line = line[: len(line) - len(stripped)] + "pass"
        lines.append(line)
    return "\n".join(lines) + "\n"


def _defined(tree):
    """Names the top level of an answer cell binds (not the locals of its functions)."""
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {a.asname or a.name.split(".")[0] for a in node.names}
        else:
            names |= {n.id for n in ast.walk(node)
                      if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    return names


def main():
    inp, out = _channel()
    sys.addaudithook(_audit)
    sys.meta_path.insert(0, Refusal)
    builtins.__import__ = _import
    room = Room(inp, out)
    room.send({"op": "ready"})
    room.serve()


if __name__ == "__main__":
    main()
