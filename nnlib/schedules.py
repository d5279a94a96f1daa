"""Learning-rate strategies of §2.7. Each schedule is a callable t -> α(t), t ≥ 0 in steps."""

import numpy as np

from ._checks import check_positive


class Schedule:
    """Base class: a named, plottable α(t); subclasses implement ``__call__``."""

    def values(self, steps):
        """α(t) for t = 0 .. steps−1, as an array (handy for plots)."""
        return np.array([self(t) for t in range(steps)])


class Constant(Schedule):
    def __init__(self, alpha0):
        check_positive("alpha0", alpha0)
        self.alpha0 = alpha0

    def __call__(self, t):
        return self.alpha0


class StepDecay(Schedule):
    """Annealing: multiply α by ``factor`` after every ``every`` steps: α₀ · factor^⌊t/every⌋."""

    def __init__(self, alpha0, factor=0.5, every=100):
        check_positive("alpha0", alpha0)
        if not 0 < factor <= 1:
            raise ValueError(f"factor: expected 0 < factor ≤ 1, got {factor!r}")
        if int(every) != every or every < 1:
            raise ValueError(f"every: expected a positive whole number of steps, got {every!r}")
        self.alpha0, self.factor, self.every = alpha0, factor, int(every)

    def __call__(self, t):
        return self.alpha0 * self.factor ** (_step(t) // self.every)


class ExponentialDecay(Schedule):
    """α(t) = α₀ e^(−kt)."""

    def __init__(self, alpha0, k=0.01):
        check_positive("alpha0", alpha0)
        if k < 0:
            raise ValueError(f"k: expected k ≥ 0, got {k!r}")
        self.alpha0, self.k = alpha0, k

    def __call__(self, t):
        return self.alpha0 * float(np.exp(-self.k * _step(t)))


class InverseTime(Schedule):
    """α(t) = α₀ τ / max(t, τ): constant until step τ, then decaying like 1/t."""

    def __init__(self, alpha0, tau=100):
        check_positive("alpha0", alpha0)
        check_positive("tau", tau)
        self.alpha0, self.tau = alpha0, tau

    def __call__(self, t):
        return self.alpha0 * self.tau / max(_step(t), self.tau)


def fan_in_scaled(alpha, W):
    """Collobert's rule: the rate for a weight matrix W (n_out, n_in) is α / √n_in."""
    check_positive("alpha", alpha)
    W = np.asarray(W)
    if W.ndim != 2:
        raise ValueError(f"W: expected a weight matrix of shape (n_out, n_in), got shape {W.shape}")
    return alpha / np.sqrt(W.shape[1])


def _step(t):
    if t < 0:
        raise ValueError(f"t: expected a step number ≥ 0, got {t!r}")
    return t
