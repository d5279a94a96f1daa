"""Argument checks shared by every public function of nnlib.

Errors name the argument, the shape that was expected and the shape that was
received, so that a student can fix a transposed matrix without a debugger.
"""

import numpy as np

FLOAT_DTYPES = (np.float32, np.float64)


def shape_text(shape):
    """Render a shape pattern like ``(N, 20)``: a free first dimension is the batch size N,
    any other free dimension is ``*``."""
    parts = [("N" if i == 0 else "*") if d is None else str(d) for i, d in enumerate(shape)]
    return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"


def as_float_array(name, x):
    """Return ``x`` as a float32/float64 array; integers become float64."""
    arr = np.asarray(x)
    if arr.dtype.kind in "biu":
        return arr.astype(np.float64)
    if arr.dtype.type not in FLOAT_DTYPES:
        raise ValueError(f"{name}: expected a float32 or float64 array, got dtype {arr.dtype}")
    return arr


def check_shape(name, x, shape):
    """Raise ``ValueError`` unless ``x.shape`` matches ``shape`` (``None`` matches any size)."""
    # Called on every forward and backward pass: a plain loop, not a generator, and no
    # np.shape for an array (gradient checks make thousands of small calls).
    x_shape = x.shape if isinstance(x, np.ndarray) else np.shape(x)
    ok = len(x_shape) == len(shape)
    if ok:
        for want, got in zip(shape, x_shape):
            if want is not None and want != got:
                ok = False
                break
    if not ok:
        raise ValueError(
            f"{name}: expected shape {shape_text(shape)}, got {shape_text(x_shape)}"
        )
    return x


def check_same_shape(name_a, a, name_b, b):
    if np.shape(a) != np.shape(b):
        raise ValueError(
            f"{name_b}: expected the shape of {name_a} {shape_text(np.shape(a))}, "
            f"got {shape_text(np.shape(b))}"
        )


def check_probability(name, p, *, allow_zero=False):
    low_ok = p >= 0 if allow_zero else p > 0
    if not (low_ok and p <= 1):
        interval = "[0, 1]" if allow_zero else "(0, 1]"
        raise ValueError(f"{name}: expected a probability in {interval}, got {p!r}")


def check_positive(name, value):
    if not value > 0:
        raise ValueError(f"{name}: expected a positive number, got {value!r}")
