"""Assertions for the exercise tests that tell a student what is wrong.

``assert_close(got, want, "dW")`` fails with a diagnosis rather than a bare
mismatch: a missing return, a wrong shape, a transpose, a flipped sign, a
constant factor (sum against mean, a forgotten 1/2), NaN, and otherwise the
worst element. Only numpy and the standard library are used, so the tests
run in any student kernel.

Imported in an IPython kernel, the module also shapes what a student sees around a test cell
(a cell whose first line is ``# TESTS <grade-id> <points>``):

* a failing check shows its message alone, without the frames of these helpers;
* a test cell that runs without error ends with the line ``✓ <grade-id> passed``;
* a warning names any function the test uses whose answer cell is marked ``# nnlib: forbidden``
  yet reaches for the reference library (:mod:`coursetools.forbidden`, the grader's own rule).
"""

import ast
import functools
import inspect
import sys

import numpy as np

from coursetools.forbidden import forbidden_imports
from coursetools.vocabulary import forbids_nnlib, test_header


class ExerciseError(AssertionError):
    """An exercise's output is wrong; the message says how and where to look."""

    def _render_traceback_(self):
        # IPython shows these lines in place of a traceback: the diagnosis is the message, and the
        # frames would only be these helpers'. The output stays an error (ename, evalue), so
        # nbgrader still fails the cell and quotes the message in its feedback.
        return str(self).splitlines()


def _fail(name, message, hint):
    text = f"{name}: {message}"
    if hint:
        text += f"\nHint: {hint}"
    raise ExerciseError(text)


def _as_array(name, got, hint):
    if got is None:
        _fail(name, "is None; did the function forget to `return` it?", hint)
    try:
        arr = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        _fail(name, f"expected a number or numpy array, got {type(got).__name__}", hint)
    return arr


def assert_shape(got, shape, name="result", hint=None):
    """Fail unless ``got`` has exactly ``shape``."""
    arr = _as_array(name, got, hint)
    if arr.shape != tuple(shape):
        extra = ""
        if arr.shape == tuple(shape)[::-1]:
            extra = " (the transpose of the expected shape)"
        _fail(name, f"has shape {arr.shape}, expected {tuple(shape)}{extra}", hint)


def _close(a, b, rtol, atol):
    return a.shape == b.shape and np.allclose(a, b, rtol=rtol, atol=atol)


def assert_close(got, want, name="result", rtol=1e-6, atol=1e-9, hint=None):
    """Fail with a diagnosis unless ``got`` ≈ ``want`` elementwise."""
    got_arr = _as_array(name, got, hint)
    want = np.asarray(want, dtype=np.float64)
    if got_arr.shape != want.shape:
        if got_arr.shape == want.T.shape and _close(got_arr.T, want, rtol, atol):
            _fail(name, f"has shape {got_arr.shape} but expected {want.shape}: it is the "
                        "transpose of the expected value", hint)
        if got_arr.size == want.size and _close(got_arr.reshape(want.shape), want, rtol, atol):
            _fail(name, f"has the right values but shape {got_arr.shape}, expected {want.shape}; "
                        "reshape it", hint)
        _fail(name, f"has shape {got_arr.shape}, expected {want.shape}", hint)
    if not np.all(np.isfinite(got_arr)) and np.all(np.isfinite(want)):
        _fail(name, "contains NaN or inf; look for an overflow or a division by zero", hint)
    if _close(got_arr, want, rtol, atol):
        return
    if not np.any(got_arr) and np.any(np.abs(want) > atol):
        _fail(name, "is all zeros; is the array you return ever filled in?", hint)
    if _close(-got_arr, want, rtol, atol):
        _fail(name, "has the right magnitude but the opposite sign", hint)
    if want.ndim == 2 and want.shape[0] == want.shape[1] and _close(got_arr.T, want, rtol, atol):
        _fail(name, "is the transpose of the expected value", hint)
    ratio = _constant_ratio(got_arr, want)
    if ratio is not None:
        _fail(name, f"is {ratio:.4g} times the expected value everywhere; look for a missing "
                    "or extra constant factor (a sum instead of a mean, a 1/2, a batch size)", hint)
    diff = np.abs(got_arr - want)
    worst = np.unravel_index(np.argmax(diff), diff.shape) if diff.ndim else ()
    where = f" at index {tuple(int(i) for i in worst)}" if worst else ""
    _fail(name, f"differs from the expected value{where}: got {got_arr[worst]:.6g}, "
                f"expected {want[worst]:.6g} ({int((diff > atol + rtol * np.abs(want)).sum())} "
                f"of {want.size} entries wrong)", hint)


def _constant_ratio(got, want):
    mask = np.abs(want) > 1e-12
    # One number always has "a constant ratio": only diagnose a factor from two or more.
    if mask.sum() < 2 or np.any(np.abs(got[~mask]) > 1e-9):
        return None
    r = got[mask] / want[mask]
    if np.allclose(r, r.flat[0], rtol=1e-6) and not np.isclose(r.flat[0], 1.0) and r.flat[0] != 0:
        return float(r.flat[0])
    return None


def assert_true(condition, message):
    """Fail with ``message`` unless ``condition`` holds."""
    if not condition:
        raise ExerciseError(message)


def _globals_read(function):
    """Names of globals that ``function``'s code (nested functions included) reads."""
    codes, names = [function.__code__], set()
    while codes:
        code = codes.pop()
        names |= set(code.co_names)
        codes += [c for c in code.co_consts if inspect.iscode(c)]
    return names


def assert_own_code(function, package="nnlib"):
    """Fail if ``function`` reaches a global that comes from ``package`` (the reference library):
    ``activations.sigmoid(z)`` through a module the notebook imported earlier passes every value
    check. A function without Python code (called remotely by the hardened grader, which reads
    the answer cell itself) is not inspected."""
    if not hasattr(function, "__code__"):
        return
    found = []
    for name in sorted(_globals_read(function)):
        value = function.__globals__.get(name)
        module = getattr(inspect.getmodule(value), "__name__", "") if value is not None else ""
        if package in (module.split(".")[0], str(getattr(value, "__name__", "")).split(".")[0]):
            found.append(name)
    assert_true(not found, f"{function.__name__} uses {', '.join(found)}, which come from {package}: "
                           "write it with numpy only")


# ---------------------------------------------------------------------------- in a student's kernel


def _test_grade_id(cell):
    """The grade id of a test cell (first line ``# TESTS <grade-id> <points>``), else None."""
    header = test_header(cell)
    return header["grade_id"] if header else None


def _parse(cell):
    try:
        return ast.parse(cell)
    except (SyntaxError, ValueError):  # ValueError: a null byte, which IPython refuses to run as well
        return None


@functools.lru_cache(maxsize=1024)
def _bound_names(cell):
    """Names a cell binds in the notebook's namespace (not those local to its functions).

    Cached: every test cell looks through the whole history again.
    """
    tree = _parse(cell)
    names, todo = set(), list(tree.body) if tree else []
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {a.asname or a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        if not isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            todo.extend(ast.iter_child_nodes(node))
    return frozenset(names)


def _defining_cell(name, history):
    """The latest cell of ``history``, other than a test cell, that binds ``name``; None if none does."""
    for cell in reversed(history):
        if name in cell and _test_grade_id(cell) is None and name in _bound_names(cell):
            return cell
    return None


def forbidden_warnings(test_cell, history):
    """Warnings for the names ``test_cell`` reads whose answer cell breaks its ``# nnlib: forbidden``.

    ``history`` is the source of every cell run so far, oldest first (IPython's ``In``). A name
    whose defining cell is not there (defined by ``exec``, ``%run``, ...) is skipped silently.
    """
    tree = _parse(test_cell)
    read = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} if tree else set()
    warnings = []
    for name in sorted(read):
        cell = _defining_cell(name, history)
        found = forbidden_imports(cell) if cell is not None and forbids_nnlib(cell) else []
        if found:
            warnings.append(f"{name} comes from a cell marked '# nnlib: forbidden' that reaches for the "
                            f"reference library ({'; '.join(found[:3])}): the autograder will send this "
                            "answer to manual grading. Write it with numpy only.")
    return warnings


def _say(stream, line):
    # Flush both streams first, so the line always comes after what the cell printed.
    sys.stdout.flush()
    sys.stderr.flush()
    print(line, file=stream, flush=True)


def _has_code(shell, cell):
    # In the student's release a hidden test cell is its header alone: it tests nothing.
    tree = _parse(shell.transform_cell(cell))
    return tree is None or bool(tree.body)


def _after_cell(result):
    """IPython's post_run_cell hook: a test cell's forbidden-import warnings, then its verdict."""
    grade_id = _test_grade_id(result.info.raw_cell)
    shell = _kernel_shell()
    if grade_id is None or shell is None:
        return
    for warning in forbidden_warnings(result.info.raw_cell, shell.history_manager.input_hist_raw):
        _say(sys.stderr, f"⚠ {grade_id}: {warning}")
    if result.success and _has_code(shell, result.info.raw_cell):
        _say(sys.stdout, f"✓ {grade_id} passed")


def _kernel_shell():
    # A kernel imports IPython long before any test does; elsewhere (the grader) don't import it.
    ipython = sys.modules.get("IPython")
    return ipython.get_ipython() if ipython else None


def _install_hook():
    shell = _kernel_shell()
    if shell is None:
        return
    # A re-import (importlib.reload, autoreload) must not report every cell twice.
    for callback in list(shell.events.callbacks["post_run_cell"]):
        if getattr(callback, "__module__", None) == __name__ and callback.__name__ == _after_cell.__name__:
            shell.events.unregister("post_run_cell", callback)
    shell.events.register("post_run_cell", _after_cell)


_install_hook()
