"""Stand in for a machine whose floating-point kernels round differently.

Two CPUs run the same notebook with different BLAS kernels (OpenBLAS picks Haswell,
SkylakeX, Neoverse, ... at start-up) and different SIMD loops for ``exp``, ``log`` or
``tanh``. Matrix products then sum in another order and transcendental functions round
in another way, so results differ in their last bits; a gradient check of tiny entries
or a long training run at a high learning rate can turn that into different printed
digits. The machines we do not have are simulated here: :func:`install` perturbs, in
the process that calls it,

* every float drawn from a generator made by ``np.random.default_rng``, by a relative
  ``draws`` (``1e-13`` by default): the initial conditions of everything that follows
  (data, weights, noise) move a little, consistently, which exposes any output that a
  tiny change of its inputs changes (chaotic training runs, values printed on a
  rounding edge);
* the result of numpy's BLAS- and LAPACK-backed functions and of its transcendental
  ufuncs, called through numpy's namespace (``np.dot``, ``np.exp``, ``np.linalg.norm``...),
  by a relative ``ops`` (4 units in the last place by default): the
  round-off of another kernel, which exposes outputs that depend on round-off itself
  (relative errors of a gradient check on tiny entries).

Each element's factor is a hash of its bits and a seed, so the perturbed arithmetic is as
deterministic as a real machine's (running the same computation twice gives the same
result); float32 results get the same number of units in their own last place. The ``@``
operator cannot be intercepted from Python; its inputs are perturbed all the same.

A stored output that survives this is one any machine reproduces. The test suite runs
every solution notebook in a kernel started with :func:`kernel_env`, whose IPython
start-up file calls :func:`install_from_env`.
"""

import os
from pathlib import Path

import numpy as np

VARIABLE = "COURSE_PERTURB"          # "draws ops seed", e.g. "1e-13 3.6e-15 0"
MARKER = "perturbed"                 # written into IPYTHONDIR once a kernel is perturbed

BLAS_BACKED = ("dot", "vdot", "inner", "matmul", "tensordot", "einsum")
LINALG = ("norm", "inv", "pinv", "solve", "lstsq", "det", "eig", "eigh", "eigvals", "eigvalsh",
          "svd", "cholesky", "qr")
TRANSCENDENTAL = ("exp", "expm1", "exp2", "log", "log1p", "log2", "log10", "tanh", "sinh", "cosh",
                  "sin", "cos", "tan", "arctan", "arctanh", "power", "float_power", "cbrt")
DRAWS = ("random", "standard_normal", "normal", "uniform", "standard_exponential", "exponential")

_DOUBLE_EPS = np.finfo(np.float64).eps
DRAWS_SCALE = 1e-13
OPS_SCALE = 4 * float(_DOUBLE_EPS)


def unit_noise(value, seed):
    """A number in [-1, 1) for every element of the real float array ``value``, a hash of the
    element's bits and ``seed`` (SplitMix64's finalizer): the same value always gets the same
    number, so a perturbed computation stays deterministic, as a real machine is."""
    flat = np.ascontiguousarray(value).reshape(-1)
    bits = flat.view(f"u{flat.dtype.itemsize}").astype(np.uint64)
    with np.errstate(over="ignore"):
        z = bits + np.uint64((0x9E3779B97F4A7C15 * (seed + 1)) % 2**64)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z ^= z >> np.uint64(31)
    return ((z >> np.uint64(11)).astype(np.float64) * 2.0**-52 - 1.0).reshape(np.shape(value))


class Jitter:
    """Multiply real floating-point results by ``1 + scale * unit_noise(result)``."""

    def __init__(self, scale, seed):
        self.ulps = scale / _DOUBLE_EPS
        self.seed = seed

    def __call__(self, value):
        if isinstance(value, tuple):           # eigh, svd, qr, lstsq return several arrays
            parts = [self(v) for v in value]
            return type(value)(*parts) if hasattr(value, "_fields") else tuple(parts)
        dtype = getattr(value, "dtype", None)
        if dtype is None or not np.issubdtype(dtype, np.floating):
            return value
        array = np.asarray(value)
        factor = (1 + self.ulps * np.finfo(dtype).eps * unit_noise(array, self.seed)).astype(dtype)
        if isinstance(value, np.ndarray) and value.ndim > 0:
            value *= factor                     # in place: honours ``out=``
            return value
        return dtype.type(array * factor)


class Perturbed:
    """A numpy function whose results pass through a :class:`Jitter`; other attributes
    (``np.exp.at``, ``np.add.reduce``, ``nin``...) are the original's."""

    def __init__(self, function, jitter):
        self.function = function
        self.jitter = jitter
        self.__name__ = getattr(function, "__name__", repr(function))
        self.__doc__ = function.__doc__

    def __call__(self, *args, **kwargs):
        return self.jitter(self.function(*args, **kwargs))

    def __getattr__(self, name):
        return getattr(self.function, name)


def perturbed_generator_class(jitter):
    """A ``np.random.Generator`` whose float draws pass through ``jitter``."""

    def wrap(name):
        draw = getattr(np.random.Generator, name)

        def method(self, *args, **kwargs):
            return jitter(draw(self, *args, **kwargs))

        method.__name__ = name
        return method

    return type("Generator", (np.random.Generator,), {name: wrap(name) for name in DRAWS})


def install(draws=DRAWS_SCALE, ops=OPS_SCALE, seed=0):
    """Perturb numpy in this process (see the module's docstring). Not reversible: use it
    only in a kernel or process that exists for the check."""
    generator = perturbed_generator_class(Jitter(draws, seed))
    jitter = Jitter(ops, seed)

    def default_rng(seed=None):
        return generator(np.random.PCG64(seed))

    np.random.default_rng = default_rng
    for name in BLAS_BACKED + TRANSCENDENTAL:
        setattr(np, name, Perturbed(getattr(np, name), jitter))
    for name in LINALG:
        setattr(np.linalg, name, Perturbed(getattr(np.linalg, name), jitter))


def install_from_env():
    """Called by the kernel's start-up file: install with the settings of the environment,
    then leave :data:`MARKER` in IPYTHONDIR, so a check can tell that it really ran (IPython
    only logs a failing start-up file)."""
    draws, ops, seed = os.environ[VARIABLE].split()
    install(float(draws), float(ops), int(seed))
    (Path(os.environ["IPYTHONDIR"]) / MARKER).touch()


def was_installed(ipython_dir):
    """True once a kernel started with ``kernel_env(ipython_dir)`` has been perturbed."""
    return (Path(ipython_dir) / MARKER).exists()


def kernel_env(ipython_dir, draws=DRAWS_SCALE, ops=OPS_SCALE, seed=0, base=None):
    """Environment of a kernel that installs the perturbation before the notebook's first cell.

    ``ipython_dir`` is a fresh folder that becomes the kernel's IPYTHONDIR.
    """
    startup = Path(ipython_dir) / "profile_default" / "startup"
    startup.mkdir(parents=True, exist_ok=True)
    (startup / "00-perturb.py").write_text(
        "from coursetools import perturb\n\nperturb.install_from_env()\n", encoding="utf-8")
    env = dict(os.environ if base is None else base)
    env.update({"IPYTHONDIR": str(ipython_dir), VARIABLE: f"{float(draws)!r} {float(ops)!r} {int(seed)}"})
    return env
