"""Neuron units of notes §2.4, each with its derivative.

Every derivative takes the pre-activation ``z`` (never the activation), so that
``f_prime(z)`` is literally the notes' :math:`f'(z)`. The registry maps a name to
an :class:`Activation`; ``get(name)`` returns the pair ``(f, f_prime)``.

Kinks (points where the derivative jumps) are recorded because a numerical
gradient taken across a kink is meaningless; :mod:`nnlib.gradcheck` warns there.
"""

from dataclasses import dataclass, field
from functools import partial

import numpy as np


def sigmoid(z):
    """σ(z) = 1 / (1 + e^(−z)), computed without overflow for large |z|."""
    z = np.asarray(z)
    # exp of a non-positive number never overflows; pick the form that uses one.
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def sigmoid_prime(z):
    """σ'(z) = σ(z)(1 − σ(z))."""
    s = sigmoid(z)
    return s * (1 - s)


def tanh(z):
    return np.tanh(z)


def tanh_prime(z):
    """tanh'(z) = 1 − tanh²(z)."""
    t = np.tanh(z)
    return 1 - t * t


def hardtanh(z):
    """−1 below −1, z on [−1, 1], 1 above 1."""
    return np.clip(z, -1, 1)


def hardtanh_prime(z):
    """1 on the closed interval [−1, 1] (the notes' convention at the kinks), 0 outside."""
    z = np.asarray(z)
    return ((z >= -1) & (z <= 1)).astype(z.dtype if z.dtype.kind == "f" else np.float64)


def softsign(z):
    """z / (1 + |z|)."""
    return z / (1 + np.abs(z))


def softsign_prime(z):
    """1 / (1 + |z|)² — the notes' sgn(z)/(1 + |z|)² is an erratum (it is odd, this is even)."""
    d = 1 + np.abs(z)
    return 1 / (d * d)


def relu(z):
    """rect(z) = max(z, 0)."""
    return np.maximum(z, 0)


def relu_prime(z):
    """1 for z > 0, 0 otherwise (0 at the kink, as in the notes)."""
    z = np.asarray(z)
    return (z > 0).astype(z.dtype if z.dtype.kind == "f" else np.float64)


def leaky_relu(z, k=0.01):
    """leaky(z) = max(z, k·z) for 0 < k < 1."""
    _check_slope(k)
    return np.where(z > 0, z, k * z)


def leaky_relu_prime(z, k=0.01):
    """1 for z > 0, k otherwise."""
    _check_slope(k)
    z = np.asarray(z)
    dtype = z.dtype if z.dtype.kind == "f" else np.float64
    return np.where(z > 0, 1, k).astype(dtype)


def identity(z):
    return z


def identity_prime(z):
    return np.ones_like(z, dtype=np.result_type(z, np.float32))


def _check_slope(k):
    if not 0 < k < 1:
        raise ValueError(f"k: the leaky ReLU slope must satisfy 0 < k < 1, got {k!r}")


@dataclass(frozen=True)
class Activation:
    """A unit: its function, its derivative in z, and where the derivative jumps."""

    name: str
    f: object
    f_prime: object
    kinks: tuple = field(default=())
    output_range: tuple = field(default=(-np.inf, np.inf))


_REGISTRY = {
    a.name: a
    for a in (
        Activation("sigmoid", sigmoid, sigmoid_prime, (), (0.0, 1.0)),
        Activation("tanh", tanh, tanh_prime, (), (-1.0, 1.0)),
        Activation("hardtanh", hardtanh, hardtanh_prime, (-1.0, 1.0), (-1.0, 1.0)),
        Activation("softsign", softsign, softsign_prime, (), (-1.0, 1.0)),
        Activation("relu", relu, relu_prime, (0.0,), (0.0, np.inf)),
        Activation("leaky_relu", leaky_relu, leaky_relu_prime, (0.0,)),
        Activation("identity", identity, identity_prime),
    )
}

NAMES = tuple(_REGISTRY)


def lookup(name, **kwargs):
    """The :class:`Activation` called ``name``; keyword arguments (``k``) are bound."""
    if isinstance(name, Activation):
        return name
    try:
        unit = _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown activation {name!r}; expected one of {', '.join(NAMES)}"
        ) from None
    if kwargs:
        if name != "leaky_relu":
            raise ValueError(f"activation {name!r} takes no parameters, got {sorted(kwargs)}")
        _check_slope(kwargs.get("k", 0.01))
        unit = Activation(
            name, partial(unit.f, **kwargs), partial(unit.f_prime, **kwargs), unit.kinks
        )
    return unit


def get(name, **kwargs):
    """``(f, f_prime)`` for the unit called ``name``, e.g. ``get("leaky_relu", k=0.1)``."""
    unit = lookup(name, **kwargs)
    return unit.f, unit.f_prime
