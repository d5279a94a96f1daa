"""nnlib.train: mini-batch training, history, divergence detection, silence."""

import numpy as np
import pytest

from nnlib import data, network, optim, train


def mlp_objective(model, X, y):
    return model.loss(X, y)


@pytest.fixture(scope="module")
def spirals():
    return data.spirals(n_per_class=60, n_classes=3, seed=0)


def test_loss_decreases_on_spirals_with_adam(spirals):
    X, y = spirals
    model = network.MLP([2, 32, 3], activation="relu", seed=0)
    before = train.accuracy(model.predict(X), y)
    history = train.train(model, (X, y), mlp_objective, optim.Adam(0.02), epochs=40,
                          batch_size=30, progress=False)
    assert history.epoch_loss[-1] < 0.5 * history.epoch_loss[0]
    assert np.mean(history.loss[-6:]) < np.mean(history.loss[:6])
    assert train.accuracy(model.predict(X), y) > max(0.8, before + 0.3)


def test_history_lengths(spirals):
    X, y = spirals  # 180 rows
    calls = []
    history = train.train(network.MLP([2, 8, 3], seed=1), (X, y), mlp_objective, optim.SGD(0.1),
                          epochs=3, batch_size=50, progress=False,
                          evaluate=lambda m: calls.append(1) or {"n": len(calls)})
    steps = 3 * 4  # ⌈180/50⌉ = 4 batches per epoch
    assert len(history.loss) == len(history.lr) == steps
    assert len(history.epoch_loss) == 3
    assert history.metrics == [{"n": 1}, {"n": 2}, {"n": 3}]
    assert history.lr == [0.1] * steps


def test_training_is_deterministic(spirals):
    X, y = spirals

    def run():
        model = network.MLP([2, 8, 3], seed=2)
        return train.train(model, (X, y), mlp_objective, optim.Momentum(0.1), epochs=2,
                           batch_size=32, seed=5, progress=False).loss

    assert run() == run()


def test_schedule_is_followed_and_recorded(spirals):
    from nnlib.schedules import StepDecay

    X, y = spirals
    opt = optim.SGD(StepDecay(0.4, factor=0.5, every=2))
    history = train.train(network.MLP([2, 4, 3], seed=0), (X, y), mlp_objective, opt, epochs=1,
                          batch_size=45, progress=False)
    assert history.lr == [0.4, 0.4, 0.2, 0.2]


def test_divergence_error_names_step_and_learning_rate(spirals):
    X, y = spirals
    model = network.MLP([2, 16, 3], activation="relu", seed=0)
    with pytest.raises(train.DivergenceError) as info, np.errstate(all="ignore"):
        train.train(model, (X, y), mlp_objective, optim.SGD(1e100), epochs=5, batch_size=30,
                    progress=False)
    err = info.value
    assert err.step >= 1 and err.lr == 1e100 and not np.isfinite(err.loss)
    message = str(err)
    assert f"step {err.step}" in message and "1e+100" in message
    assert isinstance(err, FloatingPointError)


def test_progress_false_prints_nothing(spirals, capsys):
    X, y = spirals
    train.train(network.MLP([2, 4, 3], seed=0), (X, y), mlp_objective, epochs=1, progress=False)
    out, err = capsys.readouterr()
    assert out == "" and err == ""


def test_window_scorer_trains_with_max_margin():
    tr, _ = data.ner_dataset(n_train=60, n_test=10, seed=0)
    rng = np.random.default_rng(0)
    corrupt = data.corrupt_windows(tr.windows, len(tr.vocab), rng)
    model = network.WindowScorer(len(tr.vocab), seed=0)

    def objective(m, windows, corrupt_windows):
        return m.max_margin_loss(windows, corrupt_windows, lam=1e-4)

    history = train.train(model, (tr.windows, corrupt), objective, optim.Adam(0.01), epochs=8,
                          batch_size=32, progress=False)
    assert history.epoch_loss[-1] < 0.7 * history.epoch_loss[0]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"batch_size": 0}, "batch_size: expected a positive integer, got 0"),
    ({"batch_size": 2.5}, "batch_size"),
])
def test_train_argument_errors(spirals, kwargs, message):
    X, y = spirals
    with pytest.raises(ValueError, match=message):
        train.train(network.MLP([2, 3]), (X, y), mlp_objective, progress=False, **kwargs)


def test_data_with_different_lengths(spirals):
    X, y = spirals
    with pytest.raises(ValueError, match="data\\[1\\]: expected 180 rows like data\\[0\\], got 179"):
        train.train(network.MLP([2, 3]), (X, y[:-1]), mlp_objective, progress=False)


def test_accuracy():
    assert train.accuracy([1, 0, 2, 2], [1, 1, 2, 0]) == 0.5
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        train.accuracy([1, 2], [1, 2, 3])


def test_minibatches_cover_every_row_once():
    batches = train.minibatches(10, 4, np.random.default_rng(0))
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(np.concatenate(batches).tolist()) == list(range(10))
