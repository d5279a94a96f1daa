"""Update rules of §2.7–2.9 behind one interface: ``opt.step(params, grads)``.

Parameters are updated in place; state (velocity, gradient caches) is kept per
parameter name. ``lr`` is a number or a schedule t -> α (see :mod:`nnlib.schedules`),
where t counts steps from 0. ``scales`` (optional, every optimizer) multiplies the rate of
single parameters, e.g. ``{"W1": 1/√784}`` for per-layer rates (:func:`fan_in_scales`).
"""

import numpy as np

from ._checks import check_positive


class Optimizer:
    """Shared bookkeeping; subclasses implement ``_update(name, p, g, lr)``."""

    def __init__(self, lr, scales=None):
        if not callable(lr):
            check_positive("lr", lr)
        scales = dict(scales or {})
        for name, scale in scales.items():
            check_positive(f"scales[{name!r}]", scale)
        self.lr = lr
        self.scales = scales
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
        unknown = sorted(set(self.scales) - set(params))
        if unknown:
            raise ValueError(f"scales: no parameter named {unknown[0]!r} (parameters: {sorted(params)})")
        lr = self.current_lr()
        for name, p in params.items():
            rate = lr * self.scales.get(name, 1.0)
            self._update(name, p, np.asarray(grads[name], dtype=p.dtype), p.dtype.type(rate))
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

    def __init__(self, lr, mu=0.9, scales=None):
        super().__init__(lr, scales)
        if not 0 <= mu < 1:
            raise ValueError(f"mu: expected 0 ≤ μ < 1, got {mu!r}")
        self.mu = mu

    def _update(self, name, p, g, lr):
        v = self._slot(name, p, "v")
        v *= p.dtype.type(self.mu)
        v -= lr * g
        p += v


class Nesterov(Momentum):
    """Nesterov's accelerated gradient, written for the gradient g at the parameters θ:
    v ← μ v − α g;  θ ← θ + μ v − α g.

    This is the look-ahead update v ← μv − α∇J(θ + μv), θ ← θ + v (Sutskever et al., 2013)
    with θ standing for the look-ahead point θ + μv, so that no second gradient is needed.
    """

    def _update(self, name, p, g, lr):
        v = self._slot(name, p, "v")
        v *= p.dtype.type(self.mu)
        v -= lr * g
        p += p.dtype.type(self.mu) * v - lr * g


class AdaGrad(Optimizer):
    """cache ← cache + g²;  θ ← θ − α g / √(cache + ε)  (§2.9)."""

    def __init__(self, lr, eps=1e-8, scales=None):
        super().__init__(lr, scales)
        self.eps = eps

    def _update(self, name, p, g, lr):
        cache = self._slot(name, p, "cache")
        cache += g * g
        p -= lr * g / np.sqrt(cache + self.eps)


class RMSProp(Optimizer):
    """cache ← ρ cache + (1 − ρ) g²;  θ ← θ − α g / (√cache + ε)."""

    def __init__(self, lr, decay=0.99, eps=1e-8, scales=None):
        super().__init__(lr, scales)
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

    def __init__(self, lr, beta1=0.9, beta2=0.999, eps=1e-8, bias_correction=True, scales=None):
        super().__init__(lr, scales)
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


class FromFunction(Optimizer):
    """An optimizer made of an update function on plain arrays (e.g. one a student wrote).

    rule(p, g, state, lr, t) -> (new_p, new_state), called once per parameter and step, with
    p and g arrays of one shape, state that parameter's state (``init(p)`` at the first step,
    None without ``init``), lr its current rate (schedule and ``scales`` applied) and t the step,
    counted from 0. new_p is copied into the parameter in place.
    """

    def __init__(self, rule, lr, init=None, scales=None):
        super().__init__(lr, scales)
        if not callable(rule):
            raise ValueError(f"rule: expected a function (p, g, state, lr, t) -> (new_p, new_state), "
                             f"got {type(rule).__name__}")
        self.rule, self.init = rule, init

    def _update(self, name, p, g, lr):
        if name not in self.state:
            self.state[name] = self.init(p.copy()) if self.init is not None else None
        result = self.rule(p.copy(), g.copy(), self.state[name], float(lr), self.t)
        if not (isinstance(result, tuple) and len(result) == 2):
            raise ValueError(f"rule: expected the pair (new_p, new_state) for {name!r}, got {result!r:.80}")
        new_p, self.state[name] = result
        if np.shape(new_p) != p.shape:
            raise ValueError(f"rule: new {name!r} has shape {np.shape(new_p)}, expected {p.shape}")
        p[...] = new_p


def fan_in_scales(params, power=0.5):
    """Per-parameter rate factors 1/n_in**power for every weight matrix W (n_out, n_in) of
    ``params`` (names starting with "W"); biases keep the factor 1. power=0.5 is Collobert's
    1/√fan-in, power=1 the 1/fan-in that keeps the change of each pre-activation z fixed."""
    return {name: float(np.shape(p)[1]) ** -power for name, p in params.items()
            if name.startswith("W") and np.ndim(p) == 2}


OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "nesterov": Nesterov, "adagrad": AdaGrad,
              "rmsprop": RMSProp, "adam": Adam}
