"""Objectives: the max-margin loss of §1.4, softmax cross-entropy, L2 penalty of §2.2.

Batched losses are averaged over the batch, so their gradients carry a 1/N.
"""

import numpy as np

from ._checks import as_float_array, check_positive, check_same_shape, check_shape


def max_margin(s, s_c, delta=1.0):
    """J = mean over windows of max(Δ + s_c − s, 0).

    s (N,) scores of the true windows, s_c (N,) scores of the corrupt windows
    (scalars are accepted as N = 1). Returns ``(J, dJ/ds, dJ/ds_c)`` with the
    gradients shaped like the inputs. Where the margin is met (J_i = 0) both
    gradients are 0, so no update happens; otherwise dJ/ds = −1/N and
    dJ/ds_c = +1/N, the notes' ∂J/∂s = −∂J/∂s_c = −1 for a single window.
    """
    s = as_float_array("s", s)
    s_c = as_float_array("s_c", s_c)
    if s.ndim > 1:
        raise ValueError(f"s: expected a scalar or a 1-D batch of scores, got shape {s.shape}")
    check_same_shape("s", s, "s_c", s_c)
    check_positive("delta", delta)
    margins = delta + s_c - s
    active = (margins > 0).astype(s.dtype)
    n = max(s.size, 1)
    loss = np.maximum(margins, 0).sum() / n
    return loss, -active / n, active / n


def softmax(scores):
    """Row-wise softmax, shifted by the row maximum so exp never overflows."""
    shifted = scores - scores.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


def softmax_cross_entropy(scores, y):
    """Mean negative log-likelihood of the classes ``y``.

    scores (N, C) unnormalized, y (N,) integer labels in [0, C).
    Returns ``(loss, dscores)`` with dscores (N, C) = (softmax − onehot) / N.
    """
    scores = as_float_array("scores", scores)
    check_shape("scores", scores, (None, None))
    y = np.asarray(y)
    check_shape("y", y, (scores.shape[0],))
    if y.dtype.kind not in "iu":
        raise ValueError(f"y: expected integer class labels, got dtype {y.dtype}")
    n, c = scores.shape
    if y.size and (y.min() < 0 or y.max() >= c):
        raise ValueError(f"y: labels must lie in [0, {c}), got range [{y.min()}, {y.max()}]")
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_z = np.log(np.exp(shifted).sum(axis=1))
    rows = np.arange(n)
    nll = log_z - shifted[rows, y]
    # sum / N is what ndarray.mean computes, bit for bit, without its Python-level overhead
    # (a gradient check calls this thousands of times at small N); N = 0 keeps mean's nan.
    loss = nll.sum() / n if n else nll.mean()
    dscores = np.exp(shifted - log_z[:, None])
    dscores[rows, y] -= 1
    dscores /= n
    return loss, dscores


def is_weight(name):
    """Parameters named ``b...`` are biases; everything else is a weight matrix."""
    return not name.startswith("b")


def _penalized(params, lam, names):
    """[(name, W)] to penalize: ``names``, or every weight (never a bias) by default."""
    if lam < 0:
        raise ValueError(f"lam: expected λ ≥ 0, got {lam!r}")
    names = [n for n in params if is_weight(n)] if names is None else list(names)
    missing = [n for n in names if n not in params]
    if missing:
        raise ValueError(f"names: no parameters called {missing}; expected some of {sorted(params)}")
    return [(n, params[n]) for n in names]


def l2_penalty(params, lam, names=None):
    """(λ/2) Σ_i ‖W⁽ⁱ⁾‖²_F over the weight matrices only, never the biases.

    ``params`` maps names to arrays; ``names`` selects which to penalize (default:
    every name accepted by :func:`is_weight`). Returns ``(penalty, grads)`` where
    ``grads[name] = λ W`` for each penalized weight.

    Biases are left out because they do not multiply an input: shrinking them
    does not make the function smoother, it only shifts it.
    """
    penalty = 0.0
    grads = {}
    for name, W in _penalized(params, lam, names):
        penalty += 0.5 * lam * float(np.vdot(W, W))
        grads[name] = lam * W
    return penalty, grads


def l2_penalty_as_in_notes(params, lam, names=None):
    """Erratum of §2.2: the notes write λ Σ ‖W⁽ⁱ⁾‖_F, a norm that is not squared.

    Kept to show the difference: its gradient λ W/‖W‖_F has length λ whatever the
    size of W, so it does not shrink large weights faster than small ones, and it
    is undefined at W = 0. Returns ``(penalty, grads)`` like :func:`l2_penalty`.
    """
    penalty = 0.0
    grads = {}
    for name, W in _penalized(params, lam, names):
        norm = float(np.linalg.norm(W))
        if norm == 0:
            raise ValueError(f"{name}: the unsquared norm has no gradient at W = 0")
        penalty += lam * norm
        grads[name] = lam * W / norm
    return penalty, grads
