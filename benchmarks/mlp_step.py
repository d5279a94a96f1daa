"""Time one training step of a 784-256-256-10 ReLU MLP: nnlib, PyTorch (CPU), and the GEMM bound.

One step = forward + softmax cross-entropy + backward + SGD update. For every batch
size, dtype and thread count it reports the median time of nnlib, of the same step
in PyTorch when ``torch`` is importable, and the time the step's matrix products
alone take when run as plain ``a @ b`` in numpy (the GEMM bound: a step can't be
faster than its GEMMs). Results go to ``benchmarks/results/mlp_step.json``.

    python benchmarks/mlp_step.py            # full run, 1 and 2 threads
    python benchmarks/mlp_step.py --quick    # fewer repeats, for a smoke test
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from nnlib import network, optim

SIZES = (784, 256, 256, 10)
LR = 0.01
RESULTS = Path(__file__).resolve().parent / "results" / "mlp_step.json"


def gemm_shapes(n):
    """(m, k, n) of every matrix product in one step: 3 forward, 5 backward.

    Forward, per layer:   Z (N, out) = A (N, in) · Wᵀ (in, out)
    Backward dW, per layer:  dW (out, in) = δᵀ (out, N) · A (N, in)
    Backward dX, layers 2..3: dA (N, in) = δ (N, out) · W (out, in)
    The input layer's dX is not needed to train, so it is not counted.
    """
    layers = list(zip(SIZES[:-1], SIZES[1:]))
    forward = [(n, d_in, d_out) for d_in, d_out in layers]
    grad_w = [(d_out, n, d_in) for d_in, d_out in layers]
    grad_x = [(n, d_out, d_in) for d_in, d_out in layers[1:]]
    return forward + grad_w + grad_x


def step_flops(n):
    return sum(2 * m * k * p for m, k, p in gemm_shapes(n))


def interleaved_medians(candidates, repeats, warmup):
    """{name: (median wall ms, median CPU ms)}, timing the candidates in turn.

    Taking one sample of each candidate per round means that a burst of load from
    other processes slows all of them alike instead of one; CPU time (of the whole
    process, so every BLAS thread counts) is kept as well because it is much less
    sensitive to such load than wall time.
    """
    for fn in candidates.values():
        for _ in range(warmup):
            fn()
    wall = {name: [] for name in candidates}
    cpu = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, fn in candidates.items():
            w0, c0 = time.perf_counter(), time.process_time()
            fn()
            c1, w1 = time.process_time(), time.perf_counter()
            wall[name].append(w1 - w0)
            cpu[name].append(c1 - c0)
    return {name: (1e3 * statistics.median(wall[name]), 1e3 * statistics.median(cpu[name]))
            for name in candidates}


def batch(n, dtype, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, SIZES[0])).astype(dtype)
    y = rng.integers(0, SIZES[-1], size=n)
    return X, y


def nnlib_step(n, dtype):
    model = network.MLP(list(SIZES), activation="relu", dtype=dtype, seed=0)
    opt = optim.SGD(LR)
    X, y = batch(n, dtype)

    def step():
        model.loss(X, y)
        opt.step(model.params, model.grads)

    return step, model


def torch_step(n, dtype, model):
    """The same step in PyTorch, starting from the nnlib model's weights."""
    import torch

    tdtype = torch.float32 if dtype == np.float32 else torch.float64
    layers = []
    for k in range(1, len(SIZES)):
        linear = torch.nn.Linear(SIZES[k - 1], SIZES[k], dtype=tdtype)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(model.params[f"W{k}"]))
            linear.bias.copy_(torch.from_numpy(model.params[f"b{k}"]))
        layers += [linear, torch.nn.ReLU()]
    net = torch.nn.Sequential(*layers[:-1])
    opt = torch.optim.SGD(net.parameters(), lr=LR)
    X, y = batch(n, dtype)
    X, y = torch.from_numpy(X), torch.from_numpy(y)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(net(X), y)
        loss.backward()
        opt.step()

    return step


def gemm_only(n, dtype):
    """A callable that runs just the step's matrix products, as plain contiguous a @ b."""
    rng = np.random.default_rng(1)
    operands = []
    for m, k, p in gemm_shapes(n):
        operands.append((rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, p)).astype(dtype),
                         np.empty((m, p), dtype=dtype)))

    def run():
        for a, b, out in operands:
            np.matmul(a, b, out=out)

    return run


class Threads:
    """Pin numpy's BLAS (through threadpoolctl) and torch to the same number of threads."""

    def __init__(self, count, torch):
        self.count, self.torch = count, torch
        self._limits = None

    def __enter__(self):
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            threadpool_limits = None
        if threadpool_limits is not None:
            self._limits = threadpool_limits(limits=self.count)
        elif self.count != _env_threads():
            raise SystemExit(f"threadpoolctl is needed to run numpy at {self.count} threads "
                             f"(OPENBLAS_NUM_THREADS is {_env_threads()}): pip install threadpoolctl")
        if self.torch is not None:
            self._torch_before = self.torch.get_num_threads()
            self.torch.set_num_threads(self.count)
        return self

    def __exit__(self, *exc):
        if self._limits is not None:
            self._limits.restore_original_limits()
        if self.torch is not None:
            self.torch.set_num_threads(self._torch_before)


def _env_threads():
    return int(os.environ.get("OPENBLAS_NUM_THREADS", os.cpu_count() or 1))


def blas_info():
    """What threadpoolctl reports for numpy's BLAS (library, version, architecture, threads)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return [{"note": "threadpoolctl is not installed"}]
    keep = ("user_api", "internal_api", "version", "architecture", "num_threads", "threading_layer")
    return [{k: lib.get(k) for k in keep} for lib in threadpool_info()]


def measure(n, dtype, threads, torch, repeats, warmup):
    step, model = nnlib_step(n, dtype)
    candidates = {"nnlib": step, "gemm_bound": gemm_only(n, dtype)}
    if torch is not None:
        candidates["torch"] = torch_step(n, dtype, model)
    with Threads(threads, torch):
        blas_threads = [lib["num_threads"] for lib in blas_info() if lib.get("internal_api") == "openblas"]
        times = interleaved_medians(candidates, repeats, warmup)
    row = {"batch": n, "dtype": np.dtype(dtype).name, "threads": threads, "openblas_threads": blas_threads,
           "gemm_gflop": step_flops(n) / 1e9}
    for name in ("nnlib", "torch", "gemm_bound"):
        row[f"{name}_ms"], row[f"{name}_cpu_ms"] = times.get(name, (None, None))
    row["gemm_gflops_per_s"] = row["gemm_gflop"] / row["gemm_bound_ms"] * 1e3
    row["nnlib_over_torch"] = row["nnlib_ms"] / row["torch_ms"] if torch else None
    row["percent_of_bound"] = 100 * row["gemm_bound_ms"] / row["nnlib_ms"]
    return row


def _fmt(value, spec, width):
    return f"{value:{width}{spec}}" if value is not None else f"{'-':>{width}}"


def _ratio(a, b):
    return a / b if a is not None and b else None


def table(rows):
    """Wall-clock medians, then the same two ratios computed from CPU-time medians."""
    head = (f"{'threads':>7} {'dtype':>7} {'batch':>5} {'nnlib ms':>9} {'torch ms':>9} {'nnlib/torch':>11} "
            f"{'GEMM-bound ms':>13} {'% of bound':>10} | {'CPU: nnlib/torch':>16} {'% of bound':>10}")
    lines = [head, "-" * len(head)]
    for r in rows:
        cpu_ratio = _ratio(r["nnlib_cpu_ms"], r["torch_cpu_ms"])
        cpu_bound = 100 * r["gemm_bound_cpu_ms"] / r["nnlib_cpu_ms"]
        lines.append(
            f"{r['threads']:>7} {r['dtype']:>7} {r['batch']:>5} {r['nnlib_ms']:9.3f} "
            f"{_fmt(r['torch_ms'], '.3f', 9)} {_fmt(r['nnlib_over_torch'], '.2f', 11)} "
            f"{r['gemm_bound_ms']:13.3f} {r['percent_of_bound']:9.0f}% | "
            f"{_fmt(cpu_ratio, '.2f', 16)} {cpu_bound:9.0f}%")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few repeats: a smoke test, not a measurement")
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    parser.add_argument("--batches", default="32,128,512", help="comma-separated batch sizes")
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch even if it is installed")
    args = parser.parse_args(argv)
    repeats, warmup = (5, 2) if args.quick else (40, 5)
    thread_counts = [int(t) for t in args.threads.split(",")]
    batches = [int(b) for b in args.batches.split(",")]

    torch = None
    if not args.no_torch:
        try:
            import torch
        except ImportError:
            print("torch is not importable: PyTorch columns are left empty "
                  "(optional: pip install torch==2.13.0)")

    info = {
        "python": sys.version.split()[0], "numpy": np.__version__,
        "torch": torch.__version__ if torch else None, "machine": platform.machine(),
        "cpu_count": os.cpu_count(), "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        "blas": blas_info(), "repeats": repeats, "warmup": warmup,
    }
    print(f"numpy {info['numpy']}, torch {info['torch']}, {info['cpu_count']} CPUs, "
          f"OPENBLAS_CORETYPE={info['OPENBLAS_CORETYPE']}")
    for lib in info["blas"]:
        print("BLAS (threadpoolctl):", ", ".join(f"{k}={v}" for k, v in lib.items()))
    print(f"median of {repeats} steps after {warmup} warm-up steps; "
          f"numpy BLAS and torch pinned to the thread count of each row\n")

    load_before = os.getloadavg()
    rows = [measure(n, dtype, t, torch, repeats, warmup)
            for t in thread_counts for dtype in (np.float32, np.float64) for n in batches]
    info["load_average_before_after"] = [load_before[0], os.getloadavg()[0]]
    print(table(rows))
    print(f"\n1-minute load average: {load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after "
          f"(on {os.cpu_count()} CPUs; above that, other processes compete for the cores)")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"info": info, "rows": rows}, indent=2) + "\n")
    print(f"\nwrote {RESULTS.relative_to(Path.cwd()) if RESULTS.is_relative_to(Path.cwd()) else RESULTS}")


if __name__ == "__main__":
    main()
