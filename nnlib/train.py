"""Mini-batch training: shuffling, schedules, L2, dropout, progress bar, history,
and a stop with a clear error as soon as the loss is no longer a finite number.
"""

from dataclasses import dataclass, field

import numpy as np

from .optim import SGD


class DivergenceError(FloatingPointError):
    """The loss became NaN or infinite; the message names the step and learning rate."""

    def __init__(self, step, lr, loss):
        self.step, self.lr, self.loss = step, lr, loss
        super().__init__(
            f"training diverged at step {step}: loss is {loss} with learning rate {lr:g}; "
            f"lower the learning rate (or check the gradients)"
        )


@dataclass
class History:
    """Per-step loss and learning rate; per-epoch metrics from ``evaluate``."""

    loss: list = field(default_factory=list)
    lr: list = field(default_factory=list)
    epoch_loss: list = field(default_factory=list)
    metrics: list = field(default_factory=list)


def minibatches(n, batch_size, rng):
    """Index arrays that cover range(n) once, in a random order, ``batch_size`` at a time."""
    order = rng.permutation(n)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


def train(model, data, objective, optimizer=None, *, epochs=10, batch_size=32, seed=0,
          progress=True, evaluate=None, desc="training"):
    """Train ``model`` in place and return a :class:`History`.

    data       a tuple of arrays with the same first dimension, sliced jointly
               into batches (e.g. ``(X, y)`` or ``(windows, labels)``)
    objective  ``objective(model, *batch) -> loss``; it must leave ∂loss/∂θ in
               ``model.grads`` (L2 and dropout belong there: e.g. ``model.loss``)
    optimizer  anything with ``step(params, grads)`` and ``current_lr()``
               (default: SGD with α = 0.1); its lr may be a schedule
    evaluate   optional ``evaluate(model) -> dict`` called after each epoch
    progress   show a tqdm bar over the steps (switch off in tests and scripts)
    """
    arrays = [np.asarray(a) for a in data]
    n = len(arrays[0])
    for i, a in enumerate(arrays):
        if len(a) != n:
            raise ValueError(f"data[{i}]: expected {n} rows like data[0], got {len(a)}")
    if int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"batch_size: expected a positive integer, got {batch_size!r}")
    optimizer = optimizer or SGD(0.1)
    rng = np.random.default_rng(seed)
    history = History()
    steps_per_epoch = -(-n // batch_size)
    bar = _progress_bar(epochs * steps_per_epoch, desc, progress)
    try:
        for _ in range(epochs):
            total = 0.0
            for idx in minibatches(n, batch_size, rng):
                lr = optimizer.current_lr()
                loss = float(objective(model, *(a[idx] for a in arrays)))
                if not np.isfinite(loss):
                    raise DivergenceError(len(history.loss), lr, loss)
                optimizer.step(model.params, model.grads)
                history.loss.append(loss)
                history.lr.append(lr)
                total += loss * len(idx)
                if bar is not None:
                    bar.update()
                    bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
            history.epoch_loss.append(total / n)
            if evaluate is not None:
                history.metrics.append(evaluate(model))
    finally:
        if bar is not None:
            bar.close()
    return history


def _progress_bar(total, desc, enabled):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=False)


def accuracy(predictions, labels):
    """Fraction of equal entries."""
    predictions, labels = np.asarray(predictions), np.asarray(labels)
    if predictions.shape != labels.shape:
        raise ValueError(f"predictions: expected shape {labels.shape}, got {predictions.shape}")
    return float((predictions == labels).mean())
