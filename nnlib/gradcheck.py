"""Numerical gradient checks of §2.1.

The centered difference (J(θ+ε) − J(θ−ε)) / 2ε has a truncation error of order
ε²; the one-sided (J(θ+ε) − J(θ)) / ε only of order ε. Both cost forward passes
per parameter element, which is why they check backprop and never replace it.

Two ways to compare an analytic gradient a with a numerical one n:

* ``relative_error``: the worst element, max_k |a_k − n_k| / (|a_k| + |n_k|). It points at the
  element that is wrong, but a correct gradient with tiny entries can read 1e-6 or worse,
  because round-off (about 1e-11 absolute at h = 1e-5) is a large share of a tiny entry.
* ``normwise_error``: ‖a − n‖ / (‖a‖ + ‖n‖), one number per array that its large entries
  set. It never exceeds the worst element's error, stays near 1e-10 for correct float64
  gradients, and a wrong formula, which corrupts many or large entries, moves it far above
  1e-7. ``check_gradients`` passes an array on this criterion by default.
"""

import warnings
from dataclasses import dataclass

import numpy as np

from . import activations


class KinkWarning(UserWarning):
    """A ReLU-family input lies within ε of a kink: the numerical gradient is unreliable there."""


def _check_array(name, x):
    if not isinstance(x, np.ndarray) or x.dtype.kind != "f":
        raise ValueError(
            f"{name}: expected a float numpy array to perturb in place, got "
            f"{type(x).__name__}{'' if not hasattr(x, 'dtype') else ' of dtype ' + str(x.dtype)}"
        )


def numerical_gradient(f, x, h=1e-5, centered=True):
    """∂f/∂x by finite differences; ``f(x)`` returns a scalar; x is any-shaped float array.

    Each element is perturbed in place, f evaluated, and the element restored to
    its exact old value, so x is unchanged afterwards even if f raises.
    """
    _check_array("x", x)
    if not h > 0:
        raise ValueError(f"h: expected a positive step, got {h!r}")
    grad = np.zeros(x.shape, dtype=np.float64)
    f0 = None if centered else float(f(x))
    for ix in np.ndindex(x.shape):
        old = x[ix]
        try:
            x[ix] = old + h
            f_plus = float(f(x))
            if centered:
                x[ix] = old - h
                grad[ix] = (f_plus - float(f(x))) / (2 * h)
            else:
                grad[ix] = (f_plus - f0) / h
        finally:
            x[ix] = old
    return grad


def _same_shape(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"b: expected the shape of a {a.shape}, got {b.shape}")
    return a, b


FLOOR = 1e-12  # the denominator's floor: 0 / 0 counts as no error


def _elementwise(a, b, floor):
    return np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), floor)


def relative_error(a, b, floor=FLOOR):
    """max over elements of |a − b| / max(|a| + |b|, floor): scale-free, 0 when equal."""
    a, b = _same_shape(a, b)
    if a.size == 0:
        return 0.0
    return float(np.max(_elementwise(a, b, floor)))


def normwise_error(a, b, floor=FLOOR):
    """‖a − b‖ / max(‖a‖ + ‖b‖, floor): one scale-free number for a whole array, 0 when equal.

    Set by the large entries, so round-off on tiny entries does not dominate it; it is never
    larger than :func:`relative_error` of the same arrays.
    """
    a, b = _same_shape(a, b)
    if a.size == 0:
        return 0.0
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), floor))


RULES = ("normwise", "elementwise")


@dataclass(frozen=True)
class ParamReport:
    """One parameter's check: the norm-wise error, the worst element, its error and the verdict.

    ``passed`` follows the rule of :func:`check_gradients` (norm-wise by default);
    ``max_relative_error`` and ``worst_index`` locate the worst element for diagnosis.
    """

    name: str
    max_relative_error: float
    worst_index: tuple
    analytic: float
    numerical: float
    checked: int
    passed: bool
    normwise_error: float = float("nan")

    def __str__(self):
        verdict = "ok  " if self.passed else "FAIL"
        return (f"{verdict} {self.name:<6} norm-wise {self.normwise_error:.2e}, worst element "
                f"rel.err {self.max_relative_error:.2e} at {self.worst_index} (analytic "
                f"{self.analytic:+.6e}, numerical {self.numerical:+.6e}, {self.checked} checked)")


class Report(list):
    """A list of :class:`ParamReport`, true when every parameter passed."""

    @property
    def passed(self):
        return all(r.passed for r in self)

    def __str__(self):
        return "\n".join(str(r) for r in self)


def check_gradients(loss, params, grads, *, h=1e-5, threshold=1e-7, num_checks=None,
                    seed=0, preactivations=(), rule="normwise"):
    """Compare analytic ``grads`` with centered differences of ``loss()``.

    loss            a function of no arguments returning J for the current ``params``
    params, grads   dicts keyed alike; params are perturbed in place and restored
    threshold       a parameter passes when its error under ``rule`` is at most this
    rule            "normwise" (default): normwise_error of the checked elements;
                    "elementwise": relative_error, the worst checked element (strict: correct
                    gradients with tiny entries can fail it through round-off alone)
    num_checks      None: every element; an int: that many random elements per parameter
    preactivations  [(unit or name, z)]: warn (KinkWarning) if a kink lies within h of z
    Returns a :class:`Report`; ``report.passed`` is the overall verdict.
    """
    if rule not in RULES:
        raise ValueError(f"rule: expected one of {RULES}, got {rule!r}")
    missing = set(params) ^ set(grads)
    if missing:
        raise ValueError(f"params and grads must have the same keys; differ in {sorted(missing)}")
    warn_near_kinks(preactivations, h)
    rng = np.random.default_rng(seed)
    report = Report()
    for name, p in params.items():
        _check_array(f"params[{name!r}]", p)
        g = np.asarray(grads[name])
        if g.shape != p.shape:
            raise ValueError(f"grads[{name!r}]: expected shape {p.shape}, got {g.shape}")
        if num_checks is None or num_checks >= p.size:
            indices = list(np.ndindex(p.shape))
        else:
            flat = rng.choice(p.size, size=num_checks, replace=False)
            indices = [np.unravel_index(i, p.shape) for i in flat]
        numerical = np.array([_partial(loss, p, ix, h) for ix in indices], dtype=np.float64)
        analytic = np.array([g[ix] for ix in indices], dtype=np.float64)
        # One array operation for all elements rather than relative_error element by element.
        errors = _elementwise(analytic, numerical, FLOOR)
        worst = int(np.argmax(errors))
        err, normwise = float(errors[worst]), normwise_error(analytic, numerical)
        decisive = normwise if rule == "normwise" else err
        report.append(ParamReport(name, err, tuple(int(i) for i in indices[worst]),
                                  float(analytic[worst]), float(numerical[worst]),
                                  len(indices), bool(decisive <= threshold), normwise))
    return report


def _partial(loss, p, ix, h):
    old = p[ix]
    try:
        p[ix] = old + h
        plus = float(loss())
        p[ix] = old - h
        minus = float(loss())
    finally:
        p[ix] = old
    return (plus - minus) / (2 * h)


def warn_near_kinks(preactivations, h):
    """Warn when any input z of a kinked unit (ReLU, leaky ReLU, hard tanh) is within h of a kink."""
    for unit, z in preactivations:
        unit = activations.lookup(unit)
        for kink in unit.kinks:
            close = np.abs(np.asarray(z) - kink) < h
            if close.any():
                warnings.warn(
                    f"{int(close.sum())} input(s) of {unit.name} lie within h={h:g} of its kink "
                    f"at z={kink:g}; the numerical gradient is unreliable there",
                    KinkWarning, stacklevel=3)
