"""Assertions for the exercise tests that tell a student what is wrong.

``assert_close(got, want, "dW")`` fails with a diagnosis rather than a bare
mismatch: a missing return, a wrong shape, a transpose, a flipped sign, a
constant factor (sum against mean, a forgotten 1/2), NaN, and otherwise the
worst element. Only numpy is used, so the tests run in any student kernel.
"""

import numpy as np


class ExerciseError(AssertionError):
    """An exercise's output is wrong; the message says how and where to look."""


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
