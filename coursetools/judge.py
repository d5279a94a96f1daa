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

What travels between the two processes is plain JSON written by :data:`CODEC` (the same code runs
on both sides, so they cannot disagree): None, bools, numbers, strings, lists, tuples, dicts with
string keys, numeric numpy arrays and scalars (``.npy`` with ``allow_pickle=False``), numpy
Generators by their bit generator's name and state (allow-listed bit generators only), and three
``nnlib`` types by value, rebuilt on the receiving side with nnlib's own constructors:
``NERWindows`` (its dataclass fields), ``WindowScorer`` and ``MLP`` (constructor arguments, the
``params`` arrays and the Generator; the shapes are checked before anything is built). So a model
the student trained comes back as a genuine nnlib model holding the student's parameters, and the
test's ``predict``/``forward`` on it run here, in trusted code. Nothing received is unpickled or
executed: a tampered kernel can send back only data, that is a wrong answer.

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

Answer cells whose source-notebook version carries the line ``# nnlib: forbidden`` are also read
statically (:func:`forbidden_imports`): a submission that reaches for the reference library there
goes to manual grading instead of scoring.
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

# The rule lives in coursetools.forbidden (the student-side checks apply it too); grade.py and
# tests/test_release.py read it here.
from coursetools.forbidden import forbidden_imports, forbids_nnlib  # noqa: F401

RESULT_MIME = "application/x-coursetools-result+json"
MAX_RESULT_CHARS = 32 << 20
SIMPLE_MODULES = {"numpy", "math"}
KERNEL_LOST = (CellTimeoutError, DeadKernelError)
POLL_SECONDS = 1.0

# Run verbatim both here and in the student's kernel, so the two sides cannot disagree.
CODEC = r'''
import base64 as _b64
import builtins as _builtins
import dataclasses as _dataclasses
import importlib as _importlib
import io as _io
import json as _json
import sys as _sys

import numpy as _np

_CG_MIME = "application/x-coursetools-result+json"
_CG_PROMPT = "coursetools-callback:"
_CG_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")
# Exceptions that cross over as themselves, so that a test's `except ValueError` still works.
_CG_EXCEPTIONS = ("ArithmeticError", "AssertionError", "AttributeError", "FloatingPointError",
                  "IndexError", "KeyError", "LookupError", "NotImplementedError", "OverflowError",
                  "RuntimeError", "TypeError", "ValueError", "ZeroDivisionError")
# nnlib classes carried by value, and their modules.
_CG_NNLIB = {"NERWindows": "data", "WindowScorer": "network", "MLP": "network"}
# The constructor arguments that rebuild a model; its params and Generator travel apart.
_CG_MODEL_ARGS = {"WindowScorer": ("vocab_size", "dim", "window", "hidden", "activation", "dtype",
                                   "dropout_p"),
                  "MLP": ("sizes", "activation", "dtype", "dropout_p")}


def _cg_nnlib_class(name):
    return getattr(_importlib.import_module("nnlib." + _CG_NNLIB[name]), name)


def _cg_nnlib_name(value):
    """The _CG_NNLIB name of ``value``'s class, if nnlib is loaded here and it is one of them."""
    for name, module in _CG_NNLIB.items():
        cls = getattr(_sys.modules.get("nnlib." + module), name, None)
        if cls is not None and isinstance(value, cls):
            return name
    return None


def _cg_model_args(model, name):
    """The constructor arguments that rebuild ``model`` (params and rng travel apart)."""
    if name == "WindowScorer":
        units = [model.unit]
        args = {"vocab_size": model.vocab_size, "dim": model.dim, "window": model.window,
                "hidden": model.hidden, "activation": model.unit.name}
    else:
        units = model.units
        args = {"sizes": list(model.sizes), "activation": [u.name for u in units]}
    lookup = _sys.modules["nnlib.activations"].lookup
    for unit in units:
        try:
            plain = lookup(unit.name) is unit
        except ValueError:
            plain = False
        if not plain:
            raise TypeError(f"a {name} with the activation {unit.name!r} (not one of nnlib's units "
                            f"as they are, without parameters) cannot be carried")
    return {**args, "dtype": model.dtype.name, "dropout_p": model.dropout_p}


def _cg_model_shapes(name, args):
    """The params shapes a model built from ``args`` has: checked before anything is allocated."""
    dims = [args[k] for k in ("vocab_size", "dim", "window", "hidden") if k in args]
    dims += list(args.get("sizes", []))
    if not all(type(d) is int and d > 0 for d in dims):
        raise ValueError(f"{name}: sizes must be positive ints")
    if name == "WindowScorer":
        v, d, w, h = (args[k] for k in ("vocab_size", "dim", "window", "hidden"))
        return {"L": (v, d), "W": (h, d * w), "b": (h,), "U": (h, 1)}
    shapes = {}
    for k, (n_in, n_out) in enumerate(zip(args["sizes"][:-1], args["sizes"][1:]), start=1):
        shapes[f"W{k}"], shapes[f"b{k}"] = (n_out, n_in), (n_out,)
    return shapes


def _cg_raised(exc):
    """The reply for an exception: the nearest exception type that crosses over, and the message."""
    kind = next((c.__name__ for c in type(exc).__mro__ if c.__name__ in _CG_EXCEPTIONS), "RuntimeError")
    message = str(exc) if type(exc).__name__ == kind else f"{type(exc).__name__}: {exc}"
    return {"raised": kind, "message": message[:2000]}


class _CgWire:
    """One exchange's encoder and decoder.

    ``table`` lists the arrays and Generators met so far, in traversal order, the same on both
    sides: a repeated object travels as a reference to its index, and after a call the final state
    of every table entry is written back into the caller's objects. ``callables`` (grader side
    only) collects the functions passed as arguments; ``stub`` and ``resolve`` (kernel side only)
    turn a callback index into a function asking the grader, and a student name into the global.
    """

    def __init__(self, callables=None, stub=None, resolve=None):
        self.table, self.memo = [], {}
        self.callables, self.stub, self.resolve = callables, stub, resolve

    def _remember(self, value):
        self.memo[id(value)] = len(self.table)
        self.table.append(value)
        return value

    def encode(self, value):
        if value is None or isinstance(value, (bool, int, float, str)):
            return {"t": "v", "v": value}
        if id(value) in self.memo:
            return {"t": "ref", "v": self.memo[id(value)]}
        if isinstance(value, (list, tuple)):
            return {"t": type(value).__name__, "v": [self.encode(v) for v in value]}
        if isinstance(value, dict) and all(isinstance(k, str) for k in value):
            return {"t": "dict", "v": {k: self.encode(v) for k, v in value.items()}}
        if isinstance(value, (_np.ndarray, _np.generic)) and value.dtype.kind in "biuf":
            buf = _io.BytesIO()
            _np.save(buf, _np.asarray(value), allow_pickle=False)
            if isinstance(value, _np.ndarray):
                self._remember(value)
            kind = "scalar" if isinstance(value, _np.generic) else "array"
            return {"t": kind, "v": _b64.b64encode(buf.getvalue()).decode()}
        if isinstance(value, _np.random.Generator):
            state = _CgWire().encode(value.bit_generator.state)
            self._remember(value)
            return {"t": "rng", "v": state}
        name = _cg_nnlib_name(value)
        if name is not None:
            return {"t": "nnlib", "c": name, "v": self._encode_nnlib(value, name)}
        if getattr(type(value), "_cg_student_global", False):
            return {"t": "student", "v": value.name}
        if self.callables is not None and callable(value):
            self.callables.append(value)
            return {"t": "callback", "v": len(self.callables) - 1}
        raise TypeError(f"the grader carries only numbers, strings, numeric arrays, numpy Generators, "
                        f"lists, tuples, dicts and nnlib's {', '.join(_CG_NNLIB)}, "
                        f"not {type(value).__name__}")

    def _encode_nnlib(self, value, name):
        if name == "NERWindows":
            return self.encode({f.name: getattr(value, f.name) for f in _dataclasses.fields(value)})
        return [self.encode(_cg_model_args(value, name)), self.encode(dict(value.params)),
                self.encode(value.rng)]

    def decode(self, node):
        kind, value = node["t"], node["v"]
        if kind == "v":
            if value is not None and not isinstance(value, (bool, int, float, str)):
                raise ValueError("malformed value")
            return value
        if kind == "ref":
            if type(value) is not int or not 0 <= value < len(self.table):
                raise ValueError("malformed reference")
            return self.table[value]
        if kind in ("list", "tuple"):
            items = [self.decode(v) for v in value]
            return items if kind == "list" else tuple(items)
        if kind == "dict":
            return {str(k): self.decode(v) for k, v in value.items()}
        if kind in ("array", "scalar"):
            arr = _np.load(_io.BytesIO(_b64.b64decode(value)), allow_pickle=False)
            if arr.dtype.kind not in "biuf":
                raise ValueError(f"dtype {arr.dtype} is not numeric")
            return arr[()] if kind == "scalar" else self._remember(arr)
        if kind == "rng":
            return self._remember(_cg_generator(_CgWire().decode(value)))
        if kind == "nnlib" and node.get("c") in _CG_NNLIB:
            return self._decode_nnlib(node["c"], value)
        if kind == "callback" and self.stub is not None and type(value) is int:
            return self.stub(value, self)
        if kind == "student" and self.resolve is not None:
            return self.resolve(str(value))
        raise ValueError(f"unknown or misplaced kind {kind!r}")

    def _decode_nnlib(self, name, value):
        cls = _cg_nnlib_class(name)
        if name == "NERWindows":
            fields = self.decode(value)
            if not isinstance(fields, dict) or set(fields) != {f.name for f in _dataclasses.fields(cls)}:
                raise ValueError("malformed NERWindows")
            return cls(**fields)
        args, params, rng = (self.decode(v) for v in value)
        if set(args) != set(_CG_MODEL_ARGS[name]):
            raise ValueError(f"malformed {name}")
        shapes = _cg_model_shapes(name, args)
        if args.get("dtype") not in ("float32", "float64") or not isinstance(rng, _np.random.Generator):
            raise ValueError(f"malformed {name}")
        if set(params) != set(shapes) or any(
                not isinstance(params[k], _np.ndarray) or params[k].shape != shape
                or params[k].dtype != _np.dtype(args["dtype"]) for k, shape in shapes.items()):
            raise ValueError(f"{name}: params do not match its sizes")
        model = cls(**args)
        model.params.update(params)  # the very arrays in the table, so that write-back reaches them
        model.rng = rng
        return model

    def snapshot(self, count):
        """The final state of the first ``count`` table entries (the arguments), for write-back."""
        return [_CgWire().encode(obj) for obj in self.table[:count]]

    def restore(self, snapshot):
        """Write the callee's final state of the arguments into this side's objects."""
        if not isinstance(snapshot, list) or len(snapshot) != len(self.table):
            raise ValueError("malformed write-back")
        for target, node in zip(self.table, snapshot):
            value = _CgWire().decode(node)
            if isinstance(target, _np.random.Generator):
                if type(getattr(value, "bit_generator", None)) is not type(target.bit_generator):
                    raise ValueError("malformed write-back of a Generator")
                target.bit_generator.state = value.bit_generator.state
            elif not isinstance(value, _np.ndarray) or value.shape != target.shape:
                raise ValueError("malformed write-back of an array")
            elif not _np.array_equal(target, value):
                _np.copyto(target, value, casting="same_kind")

    def run(self, function, args, kwargs):
        """Call ``function`` on decoded arguments; the reply: result or exception, and write-back."""
        count = len(self.table)
        try:
            reply = {"ok": self.encode(function(*args, **kwargs))}
        except BaseException as exc:  # whatever the callee raised goes back to the caller
            reply = _cg_raised(exc)
        reply["after"] = self.snapshot(count)
        return reply

    def settle(self, reply, fallback, who):
        """The caller's side of ``run``: write back; then (result, None) or (None, exception to raise)."""
        if "ok" in reply or "after" in reply:
            self.restore(reply["after"])
        if "raised" in reply:
            kind = str(reply["raised"])
            cls = getattr(_builtins, kind) if kind in _CG_EXCEPTIONS else fallback
            return None, cls(f"{who} raised {kind}: {str(reply.get('message', ''))[:2000]}")
        return self.decode(reply["ok"]), None


def _cg_generator(state):
    name = state.get("bit_generator") if isinstance(state, dict) else None
    if name not in _CG_BIT_GENERATORS:
        raise ValueError(f"bit generator {name!r} is not carried")
    bit_generator = getattr(_np.random, name)()
    bit_generator.state = state
    return _np.random.Generator(bit_generator)


def _cg_kernel_wire():
    return _CgWire(stub=_cg_stub, resolve=globals().__getitem__)


def _cg_stub(index, outer):
    """A kernel-side stand-in for the grader's function number ``index``, passed to the student's
    function in the exchange ``outer``. The grader's function may read the arguments of that call
    through a closure (``f = lambda _: loss(x)`` while the student perturbs ``x`` in place), so the
    arguments' current state goes with the request, and comes back as the function left it."""
    def grader_function(*args, **kwargs):
        wire = _cg_kernel_wire()
        request = {"callback": index, "args": wire.encode([list(args), kwargs]),
                   "outer": outer.snapshot(len(outer.table))}
        reply = _json.loads(input(_CG_PROMPT + _json.dumps(request)))
        if "outer" in reply:
            outer.restore(reply["outer"])
        result, raised = wire.settle(reply, RuntimeError, "the grader's function")
        if raised is not None:
            raise raised
        return result
    return grader_function


def _cg_call(name, request):
    from IPython.display import display
    wire = _cg_kernel_wire()
    args, kwargs = wire.decode(_json.loads(request))
    # A JSON text, not a JSON value: the message layer may parse with orjson, which turns a
    # Generator state's 128-bit ints into floats.
    display({_CG_MIME: _json.dumps(wire.run(globals()[name], args, kwargs))}, raw=True)
'''

_codec = {}
exec(compile(CODEC, "<coursetools.judge.CODEC>", "exec"), _codec)
Wire, PROMPT = _codec["_CgWire"], _codec["_CG_PROMPT"]


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


def trusted_prelude(nb):
    """The imports and helper cells of the source notebook ``nb``'s ordinary cells, and its answer names.

    A helper cell is a pure definition cell (:func:`_pure`) that defines a name a test cell reads,
    or a name such a helper reads in turn: figures and demos are never redrawn here.
    """
    plain, answers, tests = [], set(), []
    for cell in nb.cells:
        tree = _parse(cell.source) if cell.cell_type == "code" else None
        meta = cell.metadata.get("nbgrader")
        if tree is None:
            continue
        if meta is None:
            plain.append((cell.source, tree))
        elif meta.get("solution"):
            answers |= _defined(tree)
        elif meta.get("grade"):
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
    return Prelude("\n".join(dict.fromkeys(statements)), helpers, sorted(answers))


# ---------------------------------------------------------------------------- calling the kernel


class Link:
    """The grader's line to one student's kernel: one call at a time.

    ``call(name, request, answer)`` runs the student's ``name`` on the JSON ``request`` and returns
    the reply; ``answer(prompt)`` is how the kernel's callback requests get their reply meanwhile.
    """

    def __init__(self, call):
        self.call, self.busy, self.trouble = call, False, None

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

    _cg_student_global = True  # how CODEC passes it on: by name, to be found in the kernel

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
            reply = link.call(self.name, request,
                              lambda prompt: answer_callback(prompt, callables, link, wire))
        except KERNEL_LOST as exc:
            link.trouble = exc
            raise
        finally:
            link.busy = False
        if link.trouble is not before:  # a callback met a limit: it decides, whatever the kernel did
            raise link.trouble
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

    def __init__(self, prelude, call):
        self.link = Link(call)
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
