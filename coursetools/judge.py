"""Judging a submission's test cells in the grader's own process, never in the student's kernel.

The hidden tests are the instructor's code, taken from the source notebook by grade id; they run
here, with this process's numpy, builtins and ``coursetools.checks``, which no student code ever
touched. Every name the test cells take from the student (the answer cells' functions, and any
other global the source notebook leaves to the notebook) is a :class:`Remote`: calling it sends the
arguments, as plain data, to the student's kernel, which calls the student's function there and
sends back the raw result, again as plain data. The encoding (:data:`CODEC`) knows only None,
bools, numbers, strings, lists, tuples, dicts with string keys and numeric numpy arrays; decoding
never unpickles, so the worst a tampered kernel can send back is a wrong answer.

Answer cells whose source-notebook version carries the line ``# nnlib: forbidden`` are also read
statically (:func:`forbidden_imports`): a submission that reaches for the reference library there
goes to manual grading instead of scoring.
"""

import ast
import builtins
import contextlib
import io
import json
import re

FORBIDDEN_MARK = re.compile(r"^\s*#\s*nnlib:\s*forbidden\b", re.M)
FORBIDDEN_MODULES = {"nnlib", "autograd", "coursetools", "importlib"}
# Ways to import without an import statement, or to run text as code.
ESCAPE_NAMES = {"__import__", "exec", "eval", "compile", "__builtins__", "modules", "import_module",
                "run_line_magic", "run_cell"}
RESULT_MIME = "application/x-coursetools-result+json"
MAX_RESULT_CHARS = 32 << 20

# Run verbatim both here and in the student's kernel, so the two sides cannot disagree.
CODEC = r'''
import base64 as _b64
import io as _io
import json as _json

import numpy as _np


def _cg_encode(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return {"t": "v", "v": value}
    if isinstance(value, (list, tuple)):
        return {"t": type(value).__name__, "v": [_cg_encode(v) for v in value]}
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"t": "dict", "v": {k: _cg_encode(v) for k, v in value.items()}}
    if isinstance(value, (_np.ndarray, _np.generic)) and value.dtype.kind in "biuf":
        buf = _io.BytesIO()
        _np.save(buf, _np.asarray(value), allow_pickle=False)
        kind = "scalar" if isinstance(value, _np.generic) else "array"
        return {"t": kind, "v": _b64.b64encode(buf.getvalue()).decode()}
    raise TypeError(f"the grader passes only numbers, strings, numeric arrays, lists, tuples and "
                    f"dicts, not {type(value).__name__}")


def _cg_decode(node):
    kind, value = node["t"], node["v"]
    if kind == "v":
        if value is not None and not isinstance(value, (bool, int, float, str)):
            raise ValueError("malformed value")
        return value
    if kind in ("list", "tuple"):
        items = [_cg_decode(v) for v in value]
        return items if kind == "list" else tuple(items)
    if kind == "dict":
        return {str(k): _cg_decode(v) for k, v in value.items()}
    if kind in ("array", "scalar"):
        arr = _np.load(_io.BytesIO(_b64.b64decode(value)), allow_pickle=False)
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"dtype {arr.dtype} is not numeric")
        return arr[()] if kind == "scalar" else arr
    raise ValueError(f"unknown kind {kind!r}")


def _cg_call(name, request):
    from IPython.display import display
    args, kwargs = _cg_decode(_json.loads(request))
    try:
        reply = {"ok": _cg_encode(globals()[name](*args, **kwargs))}
    except BaseException as exc:
        reply = {"raised": type(exc).__name__, "message": str(exc)[:2000]}
    display({"application/x-coursetools-result+json": reply}, raw=True)
'''

_codec = {}
exec(compile(CODEC, "<coursetools.judge.CODEC>", "exec"), _codec)
encode, decode = _codec["_cg_encode"], _codec["_cg_decode"]


class GraderLimit(RuntimeError):
    """A test needs something this grader cannot carry to the kernel: the cell needs manual grading."""


class StudentError(Exception):
    """The student's function raised; the test sees it as an ordinary exception with its message."""


# ---------------------------------------------------------------------------- static analysis


def forbids_nnlib(source_cell_text):
    return bool(FORBIDDEN_MARK.search(source_cell_text))


def forbidden_imports(code):
    """Reasons why ``code`` (an answer cell) may reach a forbidden module; [] if none is seen."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []  # it fails on its own when run
    reasons = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        elif isinstance(node, ast.Name) and node.id in ESCAPE_NAMES:
            names = [node.id]
        elif isinstance(node, ast.Attribute) and node.attr in ESCAPE_NAMES:
            names = [node.attr]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names = [m for m in FORBIDDEN_MODULES if m in node.value]
        else:
            continue
        for name in names:
            root = name.split(".")[0]
            if root in FORBIDDEN_MODULES or name in ESCAPE_NAMES:
                reasons.append(f"line {node.lineno}: {name}")
    return reasons


# ---------------------------------------------------------------------------- judging


class Remote:
    """A student's global, callable from the trusted side through ``call(name, request_json)``."""

    def __init__(self, name, call):
        self.name, self._call = name, call

    def __call__(self, *args, **kwargs):
        try:
            request = json.dumps(encode([list(args), kwargs]))
        except TypeError as exc:
            raise GraderLimit(f"{self.name}() is called with an argument the sandbox cannot carry: "
                              f"{exc}") from None
        reply = self._call(self.name, request)
        if "raised" in reply:
            raise StudentError(f"{self.name} raised {reply['raised']}: {reply['message']}")
        return decode(reply["ok"])

    def __repr__(self):
        return f"<student's {self.name}>"


def parse_reply(outputs):
    """The reply of a ``_cg_call`` from the kernel's outputs, or a reason it is unusable."""
    for out in outputs:
        data = out.get("data", {}) if out.get("output_type") == "display_data" else {}
        if RESULT_MIME in data:
            reply = data[RESULT_MIME]
            if not isinstance(reply, dict) or not ({"ok", "raised"} & set(reply)):
                break
            if len(json.dumps(reply)) > MAX_RESULT_CHARS:
                return {"raised": "GraderLimit", "message": "the result is too large to check"}
            return reply
    errors = [f"{o.get('ename')}: {o.get('evalue')}" for o in outputs if o.get("output_type") == "error"]
    detail = f" ({errors[0]})" if errors else ""
    return {"raised": "RuntimeError", "message": "the kernel gave no result" + detail}


def free_names(code):
    """Global names ``code`` reads without defining them (builtins excluded)."""
    tree = ast.parse(code)
    bound = set(dir(builtins))
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            bound.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {a.asname or a.name.split(".")[0] for a in node.names}
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    loads = [n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)]
    return sorted(set(loads) - bound)


def import_prelude(cells_code):
    """The import statements of the source notebook's ordinary cells, as one trusted module."""
    statements = []
    for code in cells_code:
        try:
            tree = ast.parse(code)
        except SyntaxError:
            continue
        statements += [ast.unparse(n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    return "\n".join(dict.fromkeys(statements))


def run_test(code, prelude, call):
    """Run one test cell's ``code`` here; return (outputs for the notebook, passed, manual reason or None)."""
    namespace = {"__name__": "__coursetools_judge__"}
    exec(compile(prelude, "<imports>", "exec"), namespace)
    for name in free_names(code):
        namespace.setdefault(name, Remote(name, call))
    stdout = io.StringIO()
    try:
        with contextlib.redirect_stdout(stdout):
            exec(compile(code, "<test>", "exec"), namespace)
    except GraderLimit as exc:
        return _outputs(stdout, exc), False, str(exc)
    except Exception as exc:  # a failing test, whatever it raised
        return _outputs(stdout, exc), False, None
    return _outputs(stdout, None), True, None


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
