"""Networks of Part 1: the MLP with vectorized backprop (§1.6), the window scorer
of §1.3–1.4, and the elemental, weight-by-weight backprop of §1.5.

Notation follows the notes. Layer 1 is the input, so ``W1`` (``W⁽¹⁾``) maps
a⁽¹⁾ = x to z⁽²⁾. With a batch in rows:

    z⁽ᵏ⁺¹⁾ = a⁽ᵏ⁾ W⁽ᵏ⁾ᵀ + b⁽ᵏ⁾,     a⁽ᵏ⁺¹⁾ = f(z⁽ᵏ⁺¹⁾)
    δ⁽ᵏ⁾ = f'(z⁽ᵏ⁾) ∘ (δ⁽ᵏ⁺¹⁾ W⁽ᵏ⁾),  ∇W⁽ᵏ⁾ = δ⁽ᵏ⁺¹⁾ᵀ a⁽ᵏ⁾,  ∇b⁽ᵏ⁾ = Σ_rows δ⁽ᵏ⁺¹⁾

which is the notes' δ⁽ᵏ⁾ = f'(z⁽ᵏ⁾) ∘ W⁽ᵏ⁾ᵀ δ⁽ᵏ⁺¹⁾ and ∇W⁽ᵏ⁾ = δ⁽ᵏ⁺¹⁾ a⁽ᵏ⁾ᵀ
written for every row of the batch at once.
"""

import numpy as np

from . import activations, init, losses
from ._checks import FLOAT_DTYPES, as_float_array, check_probability, check_shape


class MLP:
    """A fully connected network of any depth with a linear output layer.

    sizes       [n_in, hidden..., n_out], e.g. [784, 256, 256, 10]
    activation  one unit name for every hidden layer, or a list with one per hidden layer
    init        'xavier' (default), 'small_normal', or a callable (n_out, n_in, rng) -> W
    dropout_p   keep probability of hidden units while training (None: no dropout)

    ``params`` and ``grads`` are dicts keyed alike: W1, b1, ..., WL, bL.
    """

    def __init__(self, sizes, activation="sigmoid", init="xavier", seed=0,
                 dtype=np.float64, dropout_p=None):
        sizes = [int(n) for n in sizes]
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"sizes: expected at least [n_in, n_out] of positive sizes, got {sizes}")
        if np.dtype(dtype).type not in FLOAT_DTYPES:
            raise ValueError(f"dtype: expected float32 or float64, got {np.dtype(dtype)}")
        n_hidden = len(sizes) - 2
        names = [activation] * n_hidden if isinstance(activation, str) else list(activation)
        if len(names) != n_hidden:
            raise ValueError(
                f"activation: expected one unit per hidden layer ({n_hidden}), got {len(names)}"
            )
        if dropout_p is not None:
            check_probability("dropout_p", dropout_p)
        self.sizes = sizes
        self.dtype = np.dtype(dtype)
        self.units = [activations.lookup(n) for n in names]
        self.dropout_p = dropout_p
        self.rng = np.random.default_rng(seed)
        self.params = {}
        for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
            self.params[f"W{k}"] = _init_weights(init, n_out, n_in, self.rng, self.dtype)
            self.params[f"b{k}"] = np.zeros(n_out, dtype=self.dtype)
        self.grads = {name: np.zeros_like(p) for name, p in self.params.items()}
        self._caches = None

    @property
    def n_layers(self):
        """Number of weight matrices."""
        return len(self.sizes) - 1

    def forward(self, X, train=False):
        """Scores (N, n_out) for inputs X (N, n_in). ``train`` switches dropout on."""
        X = as_float_array("X", X)
        check_shape("X", X, (None, self.sizes[0]))
        a = X.astype(self.dtype, copy=False)
        caches = []
        for k in range(1, self.n_layers + 1):
            W, b = self.params[f"W{k}"], self.params[f"b{k}"]
            z = a @ W.T
            z += b
            if k == self.n_layers:
                caches.append((a, None, None))
                a = z
                break
            unit = self.units[k - 1]
            h = unit.f(z)
            mask = None
            if train and self.dropout_p is not None:
                mask = (self.rng.random(h.shape) < self.dropout_p) * self.dtype.type(1 / self.dropout_p)
                h = h * mask
            caches.append((a, z, mask))
            a = h
        self._caches = caches
        return a

    def backward(self, dout, input_grad=True):
        """Fill ``self.grads`` from dout = ∂J/∂scores (N, n_out); return ∂J/∂X (N, n_in).

        Training never needs ∂J/∂X (X is data, not a parameter): ``input_grad=False``
        skips that last matrix product, the largest one of a wide input layer, and returns None.
        """
        if self._caches is None:
            raise ValueError("backward called before forward: there are no cached activations")
        n = self._caches[0][0].shape[0]
        dout = as_float_array("dout", dout)
        check_shape("dout", dout, (n, self.sizes[-1]))
        delta = dout.astype(self.dtype, copy=False)
        for k in range(self.n_layers, 0, -1):
            a_prev = self._caches[k - 1][0]
            self.grads[f"W{k}"] = delta.T @ a_prev
            self.grads[f"b{k}"] = delta.sum(axis=0)
            if k == 1:
                return delta @ self.params["W1"] if input_grad else None
            da = delta @ self.params[f"W{k}"]
            _, z, mask = self._caches[k - 2]
            if mask is not None:
                da *= mask
            da *= self.units[k - 2].f_prime(z)  # da becomes δ in place: one N×n temporary less
            delta = da
        return None  # unreachable: the loop returns at k == 1

    def preactivations(self):
        """[(unit, z)] of each hidden layer from the last forward pass (for kink checks)."""
        if self._caches is None:
            return []
        return [(self.units[k], cache[1]) for k, cache in enumerate(self._caches[:-1])]

    def config(self):
        """Plain data that rebuilds this network with :meth:`from_config`: sizes, unit names,
        dtype, dropout, the very ``params`` arrays and the Generator (no copies)."""
        return {"sizes": list(self.sizes), "activation": [_plain_unit_name(u, "MLP") for u in self.units],
                "dtype": self.dtype.name, "dropout_p": self.dropout_p, "params": dict(self.params),
                "rng": self.rng}

    @classmethod
    def from_config(cls, cfg):
        """The network :meth:`config` describes, holding the config's own arrays and Generator."""
        _config_check(cfg, ("sizes", "activation", "dtype", "dropout_p", "params", "rng"), "MLP")
        sizes = cfg["sizes"]
        if not isinstance(sizes, (list, tuple)):
            raise ValueError("MLP config: sizes must be a list")
        _positive_ints(list(sizes), "MLP")
        shapes = {}
        for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
            shapes[f"W{k}"], shapes[f"b{k}"] = (n_out, n_in), (n_out,)
        params = _config_params(cfg, shapes, "MLP")
        model = cls(sizes, activation=list(cfg["activation"]), init=_zeros, dtype=cfg["dtype"],
                    dropout_p=cfg["dropout_p"])
        model.params = dict(params)
        model.grads = {name: np.zeros_like(p) for name, p in model.params.items()}
        model.rng = cfg["rng"]
        return model

    def predict(self, X):
        """Class indices (N,) from the argmax of the scores."""
        return self.forward(X).argmax(axis=1)

    def loss(self, X, y, lam=0.0):
        """Softmax cross-entropy + (λ/2)Σ‖W‖² with gradients left in ``grads``."""
        scores = self.forward(X, train=True)
        loss, dscores = losses.softmax_cross_entropy(scores, y)
        self.backward(dscores, input_grad=False)
        return loss + _add_l2(self.params, self.grads, lam)


class WindowScorer:
    """The §1.3 scorer s = Uᵀ f(Wx + b) over windows of word vectors.

    A window is ``window`` word indices; x is their word vectors (rows of ``L``)
    concatenated, so with the notes' sizes (d = 4, window 5, hidden 8):
    L (V, 4), x (20,), W (8, 20), b (8,), U (8, 1), s scalar.
    The word vectors are parameters too: ``grads['L']`` is filled by backward.
    """

    def __init__(self, vocab_size, dim=4, window=5, hidden=8, activation="sigmoid",
                 init="xavier", seed=0, dtype=np.float64, dropout_p=None):
        if dropout_p is not None:
            check_probability("dropout_p", dropout_p)
        self.vocab_size, self.dim, self.window, self.hidden = vocab_size, dim, window, hidden
        self.dtype = np.dtype(dtype)
        self.unit = activations.lookup(activation)
        self.dropout_p = dropout_p
        self.rng = np.random.default_rng(seed)
        n_in = dim * window
        self.params = {
            "L": (0.1 * self.rng.standard_normal((vocab_size, dim))).astype(self.dtype),
            "W": _init_weights(init, hidden, n_in, self.rng, self.dtype),
            "b": np.zeros(hidden, dtype=self.dtype),
            "U": _init_weights(init, 1, hidden, self.rng, self.dtype).T.copy(),
        }
        self.grads = {name: np.zeros_like(p) for name, p in self.params.items()}
        self._cache = None

    def config(self):
        """Plain data that rebuilds this scorer with :meth:`from_config` (params, Generator as they are)."""
        return {"vocab_size": self.vocab_size, "dim": self.dim, "window": self.window, "hidden": self.hidden,
                "activation": _plain_unit_name(self.unit, "WindowScorer"), "dtype": self.dtype.name,
                "dropout_p": self.dropout_p, "params": dict(self.params), "rng": self.rng}

    @classmethod
    def from_config(cls, cfg):
        """The scorer :meth:`config` describes, holding the config's own arrays and Generator."""
        keys = ("vocab_size", "dim", "window", "hidden", "activation", "dtype", "dropout_p", "params", "rng")
        _config_check(cfg, keys, "WindowScorer")
        v, d, w, h = (cfg[k] for k in ("vocab_size", "dim", "window", "hidden"))
        _positive_ints([v, d, w, h], "WindowScorer")
        params = _config_params(cfg, {"L": (v, d), "W": (h, d * w), "b": (h,), "U": (h, 1)}, "WindowScorer")
        model = cls.__new__(cls)
        model.vocab_size, model.dim, model.window, model.hidden = v, d, w, h
        model.dtype = np.dtype(cfg["dtype"])
        model.unit = activations.lookup(cfg["activation"])
        if cfg["dropout_p"] is not None:
            check_probability("dropout_p", cfg["dropout_p"])
        model.dropout_p = cfg["dropout_p"]
        model.rng = cfg["rng"]
        model.params = dict(params)
        model.grads = {name: np.zeros_like(p) for name, p in model.params.items()}
        model._cache = None
        return model

    def _check_windows(self, windows):
        windows = np.asarray(windows)
        if windows.ndim == 1:
            windows = windows[None, :]
        check_shape("windows", windows, (None, self.window))
        if windows.dtype.kind not in "iu":
            raise ValueError(f"windows: expected integer word indices, got dtype {windows.dtype}")
        if windows.size and (windows.min() < 0 or windows.max() >= self.vocab_size):
            raise ValueError(f"windows: word indices must lie in [0, {self.vocab_size})")
        return windows

    def forward(self, windows, train=False):
        """Scores s (N,) for windows (N, window) of word indices (a single window is (window,))."""
        windows = self._check_windows(windows)
        x = self.params["L"][windows].reshape(len(windows), -1)
        z = x @ self.params["W"].T + self.params["b"]
        a = self.unit.f(z)
        mask = None
        if train and self.dropout_p is not None:
            mask = (self.rng.random(a.shape) < self.dropout_p) * self.dtype.type(1 / self.dropout_p)
            a = a * mask
        s = (a @ self.params["U"])[:, 0]
        self._cache = (windows, x, z, a, mask)
        return s

    def backward(self, ds):
        """Fill ``grads`` (L, W, b, U) from ds = ∂J/∂s (N,)."""
        if self._cache is None:
            raise ValueError("backward called before forward: there are no cached activations")
        windows, x, z, a, mask = self._cache
        ds = as_float_array("ds", ds)
        check_shape("ds", ds, (len(windows),))
        ds = ds.astype(self.dtype, copy=False)
        U = self.params["U"]
        self.grads["U"] = a.T @ ds[:, None]
        da = ds[:, None] * U[:, 0]
        if mask is not None:
            da = da * mask
        delta = self.unit.f_prime(z) * da
        self.grads["W"] = delta.T @ x
        self.grads["b"] = delta.sum(axis=0)
        dx = (delta @ self.params["W"]).reshape(len(windows), self.window, self.dim)
        dL = np.zeros_like(self.params["L"])
        np.add.at(dL, windows, dx)  # a word used twice receives both shares
        self.grads["L"] = dL
        return dx

    def max_margin_loss(self, windows, corrupt, delta=1.0, lam=0.0, train=True):
        """J = mean max(Δ + s_c − s, 0) (+ L2 on W and U), gradients left in ``grads``.

        Both passes share parameters, so their gradients add up.
        """
        s_c = self.forward(corrupt, train=train)
        cache_c = self._cache
        s = self.forward(windows, train=train)
        loss, ds, ds_c = losses.max_margin(s, s_c, delta)
        self.backward(ds)
        true_grads = dict(self.grads)
        self._cache = cache_c
        self.backward(ds_c)
        for name in self.grads:
            self.grads[name] = self.grads[name] + true_grads[name]
        return loss + _add_l2(self.params, self.grads, lam, names=("W", "U"))

    def predict(self, windows, threshold=0.0):
        """1 where the score exceeds ``threshold`` (the centre word is an entity), else 0."""
        return (self.forward(windows) > threshold).astype(int)


# --- plain-data round trip (what the grader's wire carries) --------------------------

def _plain_unit_name(unit, owner):
    """The name of ``unit`` if it is one of nnlib's units as registered (no bound parameters)."""
    try:
        plain = activations.lookup(unit.name) is unit
    except ValueError:
        plain = False
    if not plain:
        raise TypeError(f"a {owner} with the activation {unit.name!r} (not one of nnlib's units as "
                        "they are, without parameters) has no plain-data config")
    return unit.name


def _zeros(n_out, n_in, rng):
    return np.zeros((n_out, n_in))


def _config_check(cfg, keys, owner):
    if not isinstance(cfg, dict) or set(cfg) != set(keys):
        raise ValueError(f"{owner} config: expected the keys {sorted(keys)}, got "
                         f"{sorted(cfg) if isinstance(cfg, dict) else type(cfg).__name__}")
    if cfg["dtype"] not in ("float32", "float64"):
        raise ValueError(f"{owner} config: dtype must be 'float32' or 'float64', got {cfg['dtype']!r}")
    if not isinstance(cfg["rng"], np.random.Generator):
        raise ValueError(f"{owner} config: rng must be a numpy Generator")


def _config_params(cfg, shapes, owner):
    """The config's params, checked against the shapes the sizes imply (before anything is built)."""
    params, dtype = cfg["params"], np.dtype(cfg["dtype"])
    if not isinstance(params, dict) or set(params) != set(shapes):
        raise ValueError(f"{owner} config: params must be {sorted(shapes)}")
    for name, shape in shapes.items():
        p = params[name]
        if not isinstance(p, np.ndarray) or p.shape != shape or p.dtype != dtype:
            raise ValueError(f"{owner} config: params[{name!r}] must be a {dtype} array of shape {shape}")
    return params


def _positive_ints(values, owner):
    if not all(type(v) is int and v > 0 for v in values):
        raise ValueError(f"{owner} config: sizes must be positive ints, got {values}")


def _init_weights(scheme, n_out, n_in, rng, dtype):
    return init.weights(scheme, n_out, n_in, rng, dtype)


def _add_l2(params, grads, lam, names=None):
    if not lam:
        return 0.0
    penalty, l2_grads = losses.l2_penalty(params, lam, names)
    for name, g in l2_grads.items():
        grads[name] = grads[name] + g
    return penalty


# --- §1.5: the 4-2-1 network, one weight at a time ---------------------------------

def four_two_one(seed=0, activation="sigmoid"):
    """The 4-2-1 network of Figure 5 as an MLP: W1 (2, 4), b1 (2,), W2 (1, 2), b2 (1,)."""
    return MLP([4, 2, 1], activation=activation, seed=seed)


def elemental_backprop(params, x, activation="sigmoid", ds=1.0):
    """∂s/∂θ for every weight and bias of a one-hidden-layer scorer, one scalar at a time.

    This is §1.5 written as loops, for a single input x (n_in,):
      δ_i⁽²⁾ = f'(z_i⁽²⁾) W_i⁽²⁾ ds             (error at hidden neuron i)
      ∂s/∂W_ij⁽¹⁾ = δ_i⁽²⁾ a_j⁽¹⁾               (error times the input it forwarded)
      ∂s/∂b_i⁽¹⁾ = δ_i⁽²⁾                        (a bias forwards the constant 1)
      ∂s/∂W_i⁽²⁾ = ds a_i⁽²⁾,  ∂s/∂b⁽²⁾ = ds
    ``params`` holds W1 (m, n), b1 (m,), W2 (1, m), b2 (1,); the result has the same keys.
    ``ds`` is the error signal arriving at the score (−1 for the true window of §1.4).
    """
    f, f_prime = activations.get(activation)
    W1, b1, W2 = params["W1"], params["b1"], params["W2"]
    m, n = W1.shape
    x = np.asarray(x, dtype=W1.dtype)
    check_shape("x", x, (n,))
    check_shape("W2", W2, (1, m))
    grads = {name: np.zeros_like(p) for name, p in params.items()}
    for i in range(m):
        z_i = b1[i] + sum(W1[i, j] * x[j] for j in range(n))
        a_i = f(z_i)
        grads["W2"][0, i] = ds * a_i
        delta_i = f_prime(z_i) * W2[0, i] * ds
        grads["b1"][i] = delta_i
        for j in range(n):
            grads["W1"][i, j] = delta_i * x[j]
    grads["b2"][0] = ds
    return grads
