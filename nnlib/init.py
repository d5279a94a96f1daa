"""Parameter initialization of §2.6.

Weights have the notes' orientation ``(n_out, n_in)``: n_in = n⁽ˡ⁾ is the fan-in,
n_out = n⁽ˡ⁺¹⁾ the fan-out.
"""

import numpy as np


def _check_sizes(n_out, n_in):
    for name, n in (("n_out", n_out), ("n_in", n_in)):
        if int(n) != n or n < 1:
            raise ValueError(f"{name}: expected a positive integer, got {n!r}")


def xavier_bound(n_out, n_in):
    """√(6 / (n_in + n_out)), the half-width of the Glorot & Bengio (2010) interval."""
    _check_sizes(n_out, n_in)
    return np.sqrt(6.0 / (n_in + n_out))


def xavier_uniform(n_out, n_in, rng, dtype=np.float64):
    """W ~ U[−√(6/(n_in+n_out)), +√(6/(n_in+n_out))], shape (n_out, n_in).

    A uniform on [−r, r] has variance r²/3, so Var(W) = 2 / (n_in + n_out): the
    compromise between keeping forward activations (1/n_in) and backward
    gradients (1/n_out) at a constant variance from layer to layer.
    """
    r = xavier_bound(n_out, n_in)
    return rng.uniform(-r, r, size=(n_out, n_in)).astype(dtype, copy=False)


def small_normal(n_out, n_in, rng, std=0.01, dtype=np.float64):
    """W ~ N(0, std²), shape (n_out, n_in): the 'small random numbers' baseline."""
    _check_sizes(n_out, n_in)
    if not std > 0:
        raise ValueError(f"std: expected a positive standard deviation, got {std!r}")
    return (std * rng.standard_normal((n_out, n_in))).astype(dtype, copy=False)


def he_normal(n_out, n_in, rng, dtype=np.float64):
    """W ~ N(0, 2 / n_in), shape (n_out, n_in): He et al. (2015) for ReLU layers.

    A ReLU zeroes half of a symmetric pre-activation, so E[a²] = Var(z) / 2; the factor 2
    restores Var(z) from layer to layer. Not registered in :data:`SCHEMES`: pass the function
    itself as ``init`` (``MLP(..., init=init.he_normal)``).
    """
    _check_sizes(n_out, n_in)
    return (np.sqrt(2.0 / n_in) * rng.standard_normal((n_out, n_in))).astype(dtype, copy=False)


def zeros(n, dtype=np.float64):
    """Biases start at 0, as the notes prescribe with Xavier initialization."""
    if int(n) != n or n < 1:
        raise ValueError(f"n: expected a positive integer, got {n!r}")
    return np.zeros(n, dtype=dtype)


SCHEMES = {
    "xavier": xavier_uniform,
    "small_normal": small_normal,
}


def weights(scheme, n_out, n_in, rng, dtype=np.float64):
    """Weights drawn by the scheme called ``scheme`` (see :data:`SCHEMES`) or a callable."""
    if callable(scheme):
        return np.asarray(scheme(n_out, n_in, rng), dtype=dtype)
    try:
        make = SCHEMES[scheme]
    except KeyError:
        raise ValueError(
            f"unknown init {scheme!r}; expected one of {', '.join(SCHEMES)} or a callable"
        ) from None
    return make(n_out, n_in, rng, dtype=dtype)
