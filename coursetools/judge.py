"""Judging a submission's test cells in the grader's own process, never in the student's kernel.

The hidden tests are the instructor's code, taken from the source notebook by grade id; they run
here, one notebook's test cells in order in one namespace (as nbgrader runs them in one kernel),
with this process's numpy, builtins and ``coursetools.checks``, which no student code ever touched.
That namespace holds, besides what the test cells define:

* the imports of the source notebook's ordinary cells, and its *helper* cells (ordinary cells that
  only import, define functions or classes, or assign simple values: :func:`trusted_prelude`),
  executed here from the SOURCE notebook, so a helper such as a test's scoring function is the
  instructor's code whatever the submission did to its copy;
* a :class:`Remote` for every name the answer cells define (and, as a last resort, any other name
  the tests read that neither defines): calling it sends the arguments to the student's kernel,
  which calls the student's function there and sends back the result.

What travels between the two processes is plain JSON written by :mod:`coursetools.wire` (the same
module on both sides, so they cannot disagree): numbers, strings, containers, numeric arrays, numpy
Generators by state, and nnlib's ``NERWindows``, ``WindowScorer`` and ``MLP`` by their own
``config()``, rebuilt with their ``from_config``. So a model the student trained comes back as a
genuine nnlib model holding the student's parameters, and the test's ``predict``/``forward`` on it
run here, in trusted code. Nothing received is unpickled or executed: a tampered kernel can send
back only data, that is a wrong answer.

In-place semantics hold both ways, as when test and function share one kernel: after every call
the callee sends back the final contents of every array and Generator among the arguments
(nested in lists, dicts and nnlib objects too), and the caller writes them into its own objects
(``np.copyto``, the bit generator's state). A result that *is* one of the arguments comes back as
the caller's own object.

A function of the test passed as an argument (``numerical_gradient(f, x)``) stays here: the kernel
gets a stub that asks the grader, over the kernel's stdin channel (``input()`` with a JSON request,
answered by :func:`kernel_call`'s stdin hook), to call it, with arguments and result carried by the
same codec. The kernel is busy meanwhile, so such a function must not call the student's code in
turn: that raises :class:`GraderLimit` (manual grading) rather than deadlocking. Whatever a stub is
asked to do, it can only call the functions the grader itself handed over, on plain data.

The functions of answer cells whose source-notebook version carries the line ``# nnlib: forbidden``
are not called in the kernel at all but in the clean room (:mod:`coursetools.cleanroom`), a process
where the reference library does not exist; a reply naming a *route* (how the student's code
reached for the reference) is a :class:`GraderLimit`: manual grading, with that reason. The static
reading of those cells (:func:`coursetools.forbidden.forbidden_imports`) only gives an early, friendly reason.
"""

import ast
import asyncio
import builtins
import contextlib
import io
import json
from dataclasses import dataclass, field

from jupyter_core.utils import ensure_async, run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from coursetools import wire
from coursetools.vocabulary import ANSWER, TEST, USES_YOUR_CODE, forbids_nnlib, role

RESULT_MIME = wire.MIME
MAX_RESULT_CHARS = wire.MAX_CHARS
SIMPLE_MODULES = {"numpy", "math"}
KERNEL_LOST = (CellTimeoutError, DeadKernelError)
POLL_SECONDS = 1.0

# Run in the student's kernel before each grader call: the kernel's entry point, from the module
# (a student's cell may have rebound the names, never the module's code).
KERNEL_SETUP = "from coursetools import wire as _cg_wire\n_cg_call = _cg_wire.kernel_call(globals())"
Wire, PROMPT = wire.Wire, wire.PROMPT


def encode(value):
    return Wire().encode(value)


def decode(node):
    return Wire().decode(node)


class GraderLimit(RuntimeError):
    """A test needs something this grader cannot carry to the kernel: the cell needs manual grading."""


class StudentError(Exception):
    """The student's function raised; the test sees it as an ordinary exception with its message."""


# ---------------------------------------------------------------------------- static analysis


def free_names(code):
    """Global names ``code`` reads without defining them (builtins excluded)."""
    tree = ast.parse(code)
    bound = set(dir(builtins))
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            bound.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= _imported(node)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    loads = [n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)]
    return sorted(set(loads) - bound)


def _imported(node):
    return {a.asname or a.name.split(".")[0] for a in node.names}


def _parse(code):
    try:
        return ast.parse(code)
    except SyntaxError:
        return None


def _defined(tree):
    """Names the top level of ``tree`` defines or assigns (imports are the library's, not the cell's)."""
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        else:
            names |= {n.id for n in ast.walk(node)
                      if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    return names


def _call_root(func):
    while isinstance(func, (ast.Attribute, ast.Call, ast.Subscript)):
        func = func.func if isinstance(func, ast.Call) else func.value
    return func.id if isinstance(func, ast.Name) else None


def _simple(expressions, imported, answers):
    """True if evaluating ``expressions`` calls only functions of the ``imported`` modules and reads no
    answer name (lambda bodies included, to stay on the safe side)."""
    for expr in expressions:
        for node in ast.walk(expr):
            if isinstance(node, ast.Name) and node.id in answers:
                return False
            if isinstance(node, ast.Call) and _call_root(node.func) not in imported:
                return False
            if isinstance(node, (ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr)):
                return False
    return True


def _pure(statements, imported, answers):
    """True if ``statements`` only import, define, or assign simple values (see :func:`_simple`)."""
    for node in statements:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # a docstring
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            evaluated = [*node.decorator_list, *node.args.defaults, *filter(None, node.args.kw_defaults)]
        elif isinstance(node, ast.ClassDef):
            if not _pure(node.body, imported, answers):
                return False
            evaluated = [*node.decorator_list, *node.bases, *(k.value for k in node.keywords)]
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            evaluated = [node.value]
        else:
            return False
        if not _simple(evaluated, imported, answers):
            return False
    return True


@dataclass
class Prelude:
    """What the grader's namespace for a notebook's tests starts from, all from the SOURCE notebook."""

    imports: str = ""
    helpers: list = field(default_factory=list)   # code of the pure definition cells, in order
    answers: list = field(default_factory=list)   # names the answer cells define
    forbidden: list = field(default_factory=list)  # of those, the names of "# nnlib: forbidden" cells


@dataclass
class RoomPlan:
    """What a notebook's clean room is built from, all read from the SOURCE notebook (see
    :mod:`coursetools.cleanroom`): its helper cells that do not touch the reference, by position;
    the release's imports of other modules, run on demand; and, for every forbidden answer cell,
    its position and the functions and classes it defines (watched in the kernel for rebinding)."""

    helpers: list = field(default_factory=list)    # [(index, code)] in notebook order
    imports: dict = field(default_factory=dict)    # name -> import statement
    answers: dict = field(default_factory=dict)    # grade id -> (index, [graded names])
    positions: dict = field(default_factory=dict)  # grade id of every graded cell -> index


REFERENCE_MODULES = ("nnlib", "autograd", "coursetools")


def room_plan(nb):
    """The :class:`RoomPlan` of source notebook ``nb`` (empty if no answer forbids the reference)."""
    plan, plain, needed = RoomPlan(), [], set()
    reference_names = set()
    for index, cell in enumerate(nb.cells):
        tree = _parse(cell.source) if cell.cell_type == "code" else None
        if tree is None:
            continue
        meta = cell.metadata.get("nbgrader")
        if meta and meta.get("grade_id"):
            plan.positions[meta["grade_id"]] = index
        if meta is None:
            plain.append((index, cell.source, tree))
            for node in tree.body:
                if not isinstance(node, (ast.Import, ast.ImportFrom)):
                    continue
                root = (node.module or "") if isinstance(node, ast.ImportFrom) else None
                for alias in node.names:
                    module = root if root is not None else alias.name
                    name = alias.asname or alias.name.split(".")[0]
                    if module.split(".")[0] in REFERENCE_MODULES or (root is not None and node.level):
                        reference_names.add(name)
                    else:
                        one = ast.ImportFrom(node.module, [alias], node.level) if root is not None \
                            else ast.Import([alias])
                        plan.imports.setdefault(name, ast.unparse(one))
        elif meta.get("solution") and forbids_nnlib(cell.source):
            graded = [n.name for n in tree.body
                      if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
            plan.answers[meta["grade_id"]] = (index, graded)
            needed |= set(free_names(cell.source))
    for name in reference_names:
        plan.imports.pop(name, None)
    if not plan.answers:
        return RoomPlan()
    from coursetools.cleanroom import is_helper_source

    usable = []
    for index, code, tree in plain:
        if code.lstrip().startswith(USES_YOUR_CODE):
            continue
        if not is_helper_source(tree, reference_names):
            # A cell that also plots or prints: its function and class definitions alone, if they
            # do not touch the reference (a demo's values come from the kernel, as data).
            kinds = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
            defs = [n for n in tree.body
                    if isinstance(n, kinds) and not set(free_names(ast.unparse(n))) & reference_names]
            if not defs:
                continue
            tree = ast.Module(defs, [])
            code = ast.unparse(tree)
        usable.append((index, code, tree))
    chosen = set()
    while True:
        more = [(i, code) for i, code, tree in usable if i not in chosen and _defined(tree) & needed]
        if not more:
            break
        for i, code in more:
            chosen.add(i)
            needed |= set(free_names(code))
    plan.helpers = [(i, code) for i, code, _ in usable if i in chosen]
    return plan


def trusted_prelude(nb):
    """The imports and helper cells of the source notebook ``nb``'s ordinary cells, and its answer names.

    A helper cell is a pure definition cell (:func:`_pure`) that defines a name a test cell reads,
    or a name such a helper reads in turn: figures and demos are never redrawn here.
    """
    plain, answers, tests = [], set(), []
    for cell in nb.cells:
        tree = _parse(cell.source) if cell.cell_type == "code" else None
        if tree is None:
            continue
        if "nbgrader" not in cell.metadata:
            plain.append((cell.source, tree))
        elif role(cell) == ANSWER:
            answers |= _defined(tree)
        elif role(cell) == TEST:
            tests.append(cell.source)
    imports = [n for _, tree in plain for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    # Definition time may call numpy and math only: cheap, and never the student's code.
    calculators = {name for n in imports for name in _imported(n)
                   if (n.module if isinstance(n, ast.ImportFrom) else n.names[0].name).split(".")[0]
                   in SIMPLE_MODULES} - answers
    pure = [(code, tree) for code, tree in plain if _pure(tree.body, calculators, answers)]
    needed = {name for code in tests for name in free_names(code)}
    helpers = []
    while True:
        more = [(code, tree) for code, tree in pure if code not in helpers and _defined(tree) & needed]
        if not more:
            break
        for code, _ in more:
            helpers.append(code)
            needed |= set(free_names(code))
    helpers = [code for code, _ in pure if code in helpers]  # in notebook order
    statements = [ast.unparse(n) for n in imports]
    forbidden = set()
    for cell in nb.cells:
        tree = _parse(cell.source) if cell.cell_type == "code" and role(cell) == ANSWER else None
        if tree is not None and forbids_nnlib(cell.source):
            forbidden |= _defined(tree)
    return Prelude("\n".join(dict.fromkeys(statements)), helpers, sorted(answers), sorted(forbidden))


# ---------------------------------------------------------------------------- calling the kernel


class Link:
    """The grader's line to one student's kernel (and clean room): one call at a time.

    ``call(name, request, answer)`` runs the student's ``name`` on the JSON ``request`` and returns
    the reply; ``answer(prompt)`` is how the kernel's callback requests get their reply meanwhile.
    ``routes`` sends some names elsewhere: the functions of forbidden answers to the clean room,
    whose ``call`` has the same signature.
    """

    def __init__(self, call, routes=None):
        self.call, self.busy, self.trouble = call, False, None
        self.routes = routes or {}  # name -> the call of another process (the clean room)

    def call_for(self, name):
        return self.routes.get(name, self.call)

    def guard(self, function):
        """``function`` as a callback: a grader limit inside it is remembered for the caller."""
        def guarded(*args, **kwargs):
            try:
                return function(*args, **kwargs)
            except GraderLimit as exc:
                self.trouble = exc
                raise
        return guarded


class Remote:
    """A student's global: calling it calls the student's function in the kernel, by value."""

    _cg_student_global = True  # how the wire passes it on: by name, to be found in the kernel

    def __init__(self, name, link):
        self.name, self._link = name, link
        self.__name__ = name  # tests name the function they check in their messages

    def __call__(self, *args, **kwargs):
        link = self._link
        if link.busy:
            raise GraderLimit(f"{self.name}() is called from a function the grader passed to the student's "
                              f"code; the kernel is busy then, so the grader cannot call it")
        callables = []
        wire = Wire(callables=callables)
        try:
            request = json.dumps(wire.encode([list(args), kwargs]))
        except TypeError as exc:
            raise GraderLimit(f"{self.name}() is called with an argument the sandbox cannot carry: "
                              f"{exc}") from None
        link.busy, before = True, link.trouble
        try:
            reply = link.call_for(self.name)(self.name, request,
                                             lambda prompt: answer_callback(prompt, callables, link, wire))
        except KERNEL_LOST as exc:
            link.trouble = exc
            raise
        finally:
            link.busy = False
        if link.trouble is not before:  # a callback met a limit: it decides, whatever the kernel did
            raise link.trouble
        if reply.get("routes"):  # the clean room saw the student's code reach for the reference
            raise GraderLimit("; ".join(reply["routes"]))
        try:
            result, raised = wire.settle(reply, StudentError, self.name)
        except Exception as exc:  # whatever a malformed reply breaks: a wrong answer
            raise StudentError(f"{self.name} sent back a malformed result: {str(exc)[:300]}") from None
        if raised is not None:
            raise raised
        return result

    def __repr__(self):
        return f"<student's {self.name}>"


def answer_callback(prompt, callables, link, outer):
    """The reply to the kernel's request ``prompt`` to call one of the grader's ``callables``.

    ``outer`` is the exchange of the student's call that received the callables: its arguments
    take the kernel's current state before the callable runs, and their state after it goes back.
    """
    wire = Wire(callables=callables)
    try:
        if not prompt.startswith(PROMPT) or len(prompt) > MAX_RESULT_CHARS:
            raise ValueError("not a callback request")
        request = json.loads(prompt[len(PROMPT):])
        index = request["callback"]
        if type(index) is not int or not 0 <= index < len(callables):
            raise ValueError(f"no callback {index!r}")
        args, kwargs = wire.decode(request["args"])
        outer.restore(request["outer"])
        reply = wire.run(link.guard(callables[index]), list(args), dict(kwargs))
        reply["outer"] = outer.snapshot(len(outer.table))
    except Exception as exc:  # a malformed request: the kernel's own problem
        reply = {"raised": "ValueError", "message": f"malformed callback request: {str(exc)[:300]}"}
    return json.dumps(reply)


def kernel_call(client, code, timeout, answer):
    """Run ``code`` in nbclient ``client``'s kernel, answering its stdin prompts with ``answer``.

    nbclient's ``execute_cell`` cannot answer stdin, so this drives the kernel client directly,
    with the cell timeout, and notices a dead kernel instead of waiting for the timeout. Only the
    outputs that carry a result or an error are kept: whatever else the call prints is dropped.
    """
    return run_sync(_kernel_call)(client, code, timeout, answer)


async def _kernel_call(client, code, timeout, answer):
    outputs = []

    def on_output(msg):
        kind = msg["header"]["msg_type"]
        if kind == "error" or (kind == "display_data" and RESULT_MIME in msg["content"].get("data", {})):
            outputs.append({"output_type": kind, **msg["content"]})

    def on_input(msg):
        client.kc.input(answer(msg["content"].get("prompt", "")))

    task = asyncio.ensure_future(client.kc.execute_interactive(
        code, store_history=False, allow_stdin=True, timeout=timeout, output_hook=on_output,
        stdin_hook=on_input))
    while not task.done():
        await asyncio.wait({task}, timeout=POLL_SECONDS)
        if not task.done() and not await ensure_async(client.km.is_alive()):
            task.cancel()
            raise DeadKernelError("the kernel died during a call")
    try:
        task.result()
    except TimeoutError:
        raise CellTimeoutError(f"a call ran longer than {timeout} s") from None
    return outputs


def parse_display(outputs):
    """The JSON object a grader query displayed in the kernel (``wire.kernel_display``), or None."""
    for out in outputs:
        data = out.get("data", {}) if out.get("output_type") == "display_data" else {}
        if RESULT_MIME in data:
            try:
                value = wire.loads(data[RESULT_MIME])
            except wire.WireError:
                return None
            return value if isinstance(value, dict) else None
    return None


def parse_reply(outputs):
    """The reply of a ``_cg_call`` from the kernel's outputs, or a reason it is unusable."""
    for out in outputs:
        data = out.get("data", {}) if out.get("output_type") == "display_data" else {}
        if RESULT_MIME in data:
            text = data[RESULT_MIME]
            if isinstance(text, str) and len(text) > MAX_RESULT_CHARS:
                return {"raised": "GraderLimit", "message": "the result is too large to check"}
            try:
                reply = json.loads(text)
            except (TypeError, ValueError, RecursionError):
                break
            if not isinstance(reply, dict) or not ({"ok", "raised"} & set(reply)):
                break
            return reply
    errors = [f"{o.get('ename')}: {o.get('evalue')}" for o in outputs if o.get("output_type") == "error"]
    detail = f" ({errors[0]})" if errors else ""
    return {"raised": "RuntimeError", "message": "the kernel gave no result" + detail}


# ---------------------------------------------------------------------------- judging


class Judge:
    """The trusted namespace one submitted notebook's test cells run in, in notebook order."""

    def __init__(self, prelude, call, clean=None):
        """``call`` reaches the student's kernel; ``clean`` (if given) the clean room, for the names
        of the forbidden answer cells."""
        self.link = Link(call, dict.fromkeys(prelude.forbidden, clean) if clean else None)
        self.namespace = {"__name__": "__coursetools_judge__"}
        exec(compile(prelude.imports, "<imports>", "exec"), self.namespace)
        self._remotes(prelude.answers)
        for code in prelude.helpers:
            with contextlib.suppress(Exception):  # a helper needing a non-helper cell stays out
                exec(compile(code, "<helper>", "exec"), self.namespace)
        self._remotes(prelude.answers)  # the answer cells' names are the student's, whatever a helper says

    def _remotes(self, names):
        self.namespace.update({name: Remote(name, self.link) for name in names})

    def run_test(self, code):
        """Run one test cell's ``code``; return (outputs for the notebook, passed, manual reason or None).

        A timeout or a dead kernel during a call propagates (nbclient's exceptions): the whole
        submission needs manual grading then, even if the test caught the exception.
        """
        for name in free_names(code):
            self.namespace.setdefault(name, Remote(name, self.link))
        self.link.trouble = None
        stdout = io.StringIO()
        try:
            with contextlib.redirect_stdout(stdout):
                exec(compile(code, "<test>", "exec"), self.namespace)
        except GraderLimit as exc:
            return _outputs(stdout, exc), False, str(exc)
        except KERNEL_LOST:
            raise
        except Exception as exc:  # a failing test, whatever it raised
            return self._verdict(stdout, exc)
        return self._verdict(stdout, None)

    def _verdict(self, stdout, exc):
        trouble = self.link.trouble  # a test may have caught it; it still decides
        if isinstance(trouble, KERNEL_LOST):
            raise trouble
        if isinstance(trouble, GraderLimit):
            return _outputs(stdout, trouble), False, str(trouble)
        return _outputs(stdout, exc), exc is None, None


def _outputs(stdout, exc):
    outputs = []
    if stdout.getvalue():
        outputs.append({"output_type": "stream", "name": "stdout", "text": stdout.getvalue()})
    if exc is not None:
        # Only the exception and its message: a traceback would quote the hidden test's lines.
        name = type(exc).__name__
        outputs.append({"output_type": "error", "ename": name, "evalue": str(exc),
                        "traceback": [f"{name}: {exc}"]})
    return outputs
