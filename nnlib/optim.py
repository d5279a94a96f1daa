"""Update rules of §2.7–2.9 behind one interface: ``opt.step(params, grads)``.

Parameters are updated in place; state (velocity, gradient caches) is kept per
parameter name. ``lr`` is a number or a schedule t -> α (see :mod:`nnlib.schedules`),
where t counts steps from 0.
"""

import numpy as np

from ._checks import check_positive


class Optimizer:
    """Shared bookkeeping; subclasses implement ``_update(name, p, g, lr)``."""

    def __init__(self, lr):
        if not callable(lr):
            check_positive("lr", lr)
        self.lr = lr
        self.t = 0
        self.state = {}

    def current_lr(self):
        return float(self.lr(self.t)) if callable(self.lr) else float(self.lr)

    def step(self, params, grads):
        """Apply one update to every parameter that has a gradient."""
        for name in params:
            if name not in grads:
                raise ValueError(f"grads: no gradient for parameter {name!r}")
            p, g = params[name], grads[name]
            if np.shape(g) != p.shape:
                raise ValueError(f"grads[{name!r}]: expected shape {p.shape}, got {np.shape(g)}")
        lr = self.current_lr()
        for name, p in params.items():
            self._update(name, p, np.asarray(grads[name], dtype=p.dtype), p.dtype.type(lr))
        self.t += 1

    def _slot(self, name, p, key):
        slots = self.state.setdefault(name, {})
        if key not in slots:
            slots[key] = np.zeros_like(p)
        return slots[key]


class SGD(Optimizer):
    """θ ← θ − α g."""

    def _update(self, name, p, g, lr):
        p -= lr * g


class Momentum(Optimizer):
    """v ← μ v − α g;  θ ← θ + v  (§2.8)."""

    def __init__(self, lr, mu=0.9):
        super().__init__(lr)
        if not 0 <= mu < 1:
            raise ValueError(f"mu: expected 0 ≤ μ < 1, got {mu!r}")
        self.mu = mu

    def _update(self, name, p, g, lr):
        v = self._slot(name, p, "v")
        v *= p.dtype.type(self.mu)
        v -= lr * g
        p += v


class AdaGrad(Optimizer):
    """cache ← cache + g²;  θ ← θ − α g / √(cache + ε)  (§2.9)."""

    def __init__(self, lr, eps=1e-8):
        super().__init__(lr)
        self.eps = eps

    def _update(self, name, p, g, lr):
        cache = self._slot(name, p, "cache")
        cache += g * g
        p -= lr * g / np.sqrt(cache + self.eps)


class RMSProp(Optimizer):
    """cache ← ρ cache + (1 − ρ) g²;  θ ← θ − α g / (√cache + ε)."""

    def __init__(self, lr, decay=0.99, eps=1e-8):
        super().__init__(lr)
        if not 0 <= decay < 1:
            raise ValueError(f"decay: expected 0 ≤ ρ < 1, got {decay!r}")
        self.decay, self.eps = decay, eps

    def _update(self, name, p, g, lr):
        cache = self._slot(name, p, "cache")
        cache *= p.dtype.type(self.decay)
        cache += p.dtype.type(1 - self.decay) * g * g
        p -= lr * g / (np.sqrt(cache) + self.eps)


class Adam(Optimizer):
    """m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;  θ ← θ − α m̂ / (√v̂ + ε).

    With ``bias_correction`` (the default, as in Kingma & Ba) m̂ = m/(1−β₁ᵗ) and
    v̂ = v/(1−β₂ᵗ). Without it (the notes' Snippet 2.5) m̂ = m, v̂ = v: both start
    at 0 and are biased toward 0 for the first ~1/(1−β) steps.
    """

    def __init__(self, lr, beta1=0.9, beta2=0.999, eps=1e-8, bias_correction=True):
        super().__init__(lr)
        for name, beta in (("beta1", beta1), ("beta2", beta2)):
            if not 0 <= beta < 1:
                raise ValueError(f"{name}: expected 0 ≤ β < 1, got {beta!r}")
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.bias_correction = bias_correction

    def _update(self, name, p, g, lr):
        m = self._slot(name, p, "m")
        v = self._slot(name, p, "v")
        m *= p.dtype.type(self.beta1)
        m += p.dtype.type(1 - self.beta1) * g
        v *= p.dtype.type(self.beta2)
        v += p.dtype.type(1 - self.beta2) * g * g
        step_lr = lr
        denom_scale = 1.0
        if self.bias_correction:
            t = self.t + 1
            step_lr = lr / p.dtype.type(1 - self.beta1 ** t)
            denom_scale = 1 / np.sqrt(1 - self.beta2 ** t)
        p -= step_lr * m / (np.sqrt(v) * p.dtype.type(denom_scale) + self.eps)


OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "adagrad": AdaGrad,
              "rmsprop": RMSProp, "adam": Adam}
