"""Layers as forward/backward pairs (CS231n style).

A forward function returns ``(out, cache)``; the matching backward function takes
``(dout, cache)`` and returns the gradients of the loss with respect to its
inputs, where ``dout`` is the gradient with respect to ``out``.

Batches are rows: ``x`` has shape ``(N, n_in)`` and ``W`` has the notes'
orientation ``(n_out, n_in)``, so one layer computes ``z = x @ W.T + b``, the
row-wise form of the notes' ``z = Wx + b``.
"""


from . import activations
from ._checks import as_float_array, check_probability, check_same_shape, check_shape


def affine_forward(x, W, b):
    """z = x Wᵀ + b.

    Shapes: x (N, n_in), W (n_out, n_in), b (n_out,) -> out (N, n_out).
    """
    x = as_float_array("x", x)
    W = as_float_array("W", W)
    b = as_float_array("b", b)
    check_shape("W", W, (None, None))
    n_out, n_in = W.shape
    check_shape("x", x, (None, n_in))
    check_shape("b", b, (n_out,))
    out = x @ W.T
    out += b
    return out, (x, W)


def affine_backward(dout, cache):
    """Gradients of an affine layer.

    dout (N, n_out) -> dx (N, n_in), dW (n_out, n_in), db (n_out,).
    ``dW = doutᵀ x`` is the notes' ``∇W = δ aᵀ`` summed over the rows of the batch.
    """
    x, W = cache
    check_shape("dout", dout, (x.shape[0], W.shape[0]))
    dx = dout @ W
    dW = dout.T @ x
    db = dout.sum(axis=0)
    return dx, dW, db


def activation_forward(z, activation="sigmoid"):
    """a = f(z) elementwise; any shape. ``activation`` is a name or an Activation."""
    unit = activations.lookup(activation)
    z = as_float_array("z", z)
    return unit.f(z), (z, unit)


def activation_backward(da, cache):
    """δ = f'(z) ∘ da, the notes' move of an error signal across a neuron."""
    z, unit = cache
    check_same_shape("z", z, "da", da)
    return unit.f_prime(z) * da


def dropout_forward(h, p, rng, *, train=True, inverted=True):
    """Keep each unit with probability ``p`` (the notes' convention), drop it otherwise.

    inverted=True  (used in practice): divide kept units by p while training, so the
                   expected activation is unchanged and test time is the identity.
    inverted=False (the notes' plain variant): no scaling while training; at test
                   time multiply by p so that test outputs match training in expectation.

    Shapes: h any shape -> out the same shape. ``rng`` is a numpy Generator.
    """
    check_probability("p", p)
    h = as_float_array("h", h)
    if not train:
        out = h if inverted else h * h.dtype.type(p)
        return out, None
    mask = rng.random(h.shape) < p
    scale = h.dtype.type(1 / p if inverted else 1)
    kept = mask * scale
    return h * kept, kept


def dropout_backward(dout, cache):
    """Gradients flow only through units kept in the forward pass (scaled alike)."""
    kept = cache
    if kept is None:
        raise ValueError("dropout_backward: the forward pass ran with train=False; "
                         "there is no mask to backpropagate through")
    check_same_shape("mask", kept, "dout", dout)
    return dout * kept
