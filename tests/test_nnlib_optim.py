"""Update rules (§2.7–2.9) and learning-rate schedules against values worked out by hand.

Each expected value is written out as the arithmetic a student would do on paper,
for one parameter θ₀ = 1.0 and the gradients g₁ = 0.5, g₂ = −1.0, g₃ = 2.0.
"""

import math

import numpy as np
import pytest

from nnlib import optim, schedules

GRADS = [0.5, -1.0, 2.0]


def run(optimizer, steps=3, theta0=1.0, dtype=np.float64):
    """θ after each step, applying GRADS in turn to a one-element parameter."""
    params = {"theta": np.array([theta0], dtype=dtype)}
    trace = []
    for g in GRADS[:steps]:
        optimizer.step(params, {"theta": np.array([g])})
        trace.append(float(params["theta"][0]))
    return trace


def test_sgd():
    assert run(optim.SGD(0.1)) == pytest.approx([
        1.0 - 0.1 * 0.5,                      # 0.95
        1.0 - 0.1 * 0.5 + 0.1 * 1.0,          # 1.05
        1.0 - 0.1 * 0.5 + 0.1 * 1.0 - 0.2,    # 0.85
    ], abs=1e-15)


def test_momentum_accumulates_a_velocity():
    v1 = -0.1 * 0.5                 # v = μ·0 − α g₁ = −0.05
    v2 = 0.9 * v1 - 0.1 * -1.0      # = −0.045 + 0.1 = 0.055
    v3 = 0.9 * v2 - 0.1 * 2.0       # = 0.0495 − 0.2 = −0.1505
    expected = [1.0 + v1, 1.0 + v1 + v2, 1.0 + v1 + v2 + v3]
    assert expected == pytest.approx([0.95, 1.005, 0.8545], abs=1e-12)
    assert run(optim.Momentum(0.1, mu=0.9)) == pytest.approx(expected, abs=1e-15)


def test_adagrad_divides_by_the_root_of_the_summed_squares():
    eps = 1e-8
    c1 = 0.25                   # 0.5²
    c2 = 0.25 + 1.0             # + (−1)²
    c3 = 1.25 + 4.0             # + 2²
    t1 = 1.0 - 0.1 * 0.5 / math.sqrt(c1 + eps)       # ≈ 0.9
    t2 = t1 - 0.1 * -1.0 / math.sqrt(c2 + eps)       # ≈ 0.9 + 0.0894
    t3 = t2 - 0.1 * 2.0 / math.sqrt(c3 + eps)        # ≈ 0.9894 − 0.0873
    assert t1 == pytest.approx(0.9, abs=1e-8)
    assert run(optim.AdaGrad(0.1, eps=eps)) == pytest.approx([t1, t2, t3], abs=1e-15)


def test_rmsprop_keeps_a_moving_average_of_squares():
    eps = 1e-8
    c1 = 0.1 * 0.25                     # (1 − ρ) g₁² with ρ = 0.9: 0.025
    c2 = 0.9 * c1 + 0.1 * 1.0           # 0.1225, whose root is 0.35
    c3 = 0.9 * c2 + 0.1 * 4.0           # 0.51025
    t1 = 1.0 - 0.1 * 0.5 / (math.sqrt(c1) + eps)
    t2 = t1 - 0.1 * -1.0 / (0.35 + eps)
    t3 = t2 - 0.1 * 2.0 / (math.sqrt(c3) + eps)
    assert run(optim.RMSProp(0.1, decay=0.9, eps=eps)) == pytest.approx([t1, t2, t3], abs=1e-12)


def adam_by_hand(bias_correction):
    b1, b2, eps, lr = 0.9, 0.999, 1e-8, 0.01
    m = v = 0.0
    theta = 1.0
    trace = []
    for t, g in enumerate(GRADS, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat = m / (1 - b1 ** t) if bias_correction else m
        v_hat = v / (1 - b2 ** t) if bias_correction else v
        theta -= lr * m_hat / (math.sqrt(v_hat) + eps)
        trace.append(theta)
    return trace


def test_adam_with_bias_correction():
    # Step 1 by hand: m = 0.05, v = 0.00025; m̂ = 0.05/0.1 = 0.5, v̂ = 0.00025/0.001 = 0.25,
    # so the step is α·0.5/√0.25 = α: the first bias-corrected step has magnitude ≈ α.
    trace = run(optim.Adam(0.01))
    assert trace[0] == pytest.approx(1.0 - 0.01 * 0.5 / (0.5 + 1e-8), abs=1e-15)
    assert abs(trace[0] - 1.0) == pytest.approx(0.01, rel=1e-7)
    assert trace == pytest.approx(adam_by_hand(True), abs=1e-14)


@pytest.mark.parametrize("g", [1e-4, 3.0, -250.0])
def test_first_bias_corrected_adam_step_is_alpha_whatever_the_gradient(g):
    params = {"w": np.zeros(1)}
    optim.Adam(0.05).step(params, {"w": np.array([g])})
    assert params["w"][0] == pytest.approx(-0.05 * np.sign(g), rel=1e-3)


def test_adam_without_bias_correction_is_the_notes_snippet():
    # Step 1: m = 0.05, v = 0.00025, step = 0.01·0.05/√0.00025 = 0.01·√10 ≈ 0.0316
    trace = run(optim.Adam(0.01, bias_correction=False))
    assert trace[0] == pytest.approx(1.0 - 0.01 * 0.05 / (math.sqrt(0.00025) + 1e-8), abs=1e-15)
    assert trace == pytest.approx(adam_by_hand(False), abs=1e-14)
    assert trace != pytest.approx(adam_by_hand(True), abs=1e-6)


@pytest.mark.parametrize("name", sorted(optim.OPTIMIZERS))
def test_float32_parameters_stay_float32(name):
    opt = optim.OPTIMIZERS[name](0.01)
    params = {"W": np.ones((2, 3), dtype=np.float32), "b": np.zeros(2, dtype=np.float32)}
    grads = {"W": np.full((2, 3), 0.5), "b": np.full(2, -0.25)}  # float64 gradients
    for _ in range(3):
        opt.step(params, grads)
    assert params["W"].dtype == np.float32 and params["b"].dtype == np.float32
    assert all(s.dtype == np.float32 for slots in opt.state.values() for s in slots.values())
    assert np.all(params["W"] < 1) and np.all(params["b"] > 0)  # they did move downhill


def test_parameters_are_updated_in_place():
    W = np.ones(3)
    optim.Momentum(0.1).step({"W": W}, {"W": np.ones(3)})
    np.testing.assert_allclose(W, 0.9)


def test_state_is_kept_per_parameter():
    opt = optim.Momentum(0.1, mu=0.5)
    params = {"a": np.zeros(1), "b": np.zeros(1)}
    opt.step(params, {"a": np.array([1.0]), "b": np.array([-2.0])})
    np.testing.assert_allclose(opt.state["a"]["v"], [-0.1])
    np.testing.assert_allclose(opt.state["b"]["v"], [0.2])


# --- schedules -------------------------------------------------------------------------

def test_step_decay():
    s = schedules.StepDecay(0.8, factor=0.5, every=10)
    assert [s(0), s(9), s(10), s(19), s(20), s(35)] == [0.8, 0.8, 0.4, 0.4, 0.2, 0.1]


def test_exponential_decay():
    s = schedules.ExponentialDecay(0.2, k=0.1)
    assert s(0) == 0.2
    assert s(10) == pytest.approx(0.2 * math.exp(-1.0), rel=1e-15)
    assert s(25) == pytest.approx(0.2 * math.exp(-2.5), rel=1e-15)


def test_inverse_time_is_constant_until_tau_then_one_over_t():
    s = schedules.InverseTime(0.3, tau=100)
    assert [s(0), s(50), s(100)] == [0.3, 0.3, 0.3]
    assert s(200) == pytest.approx(0.15) and s(400) == pytest.approx(0.075)


def test_constant_and_values():
    np.testing.assert_array_equal(schedules.Constant(0.5).values(3), [0.5, 0.5, 0.5])
    np.testing.assert_allclose(schedules.StepDecay(1.0, 0.1, every=2).values(5), [1, 1, 0.1, 0.1, 0.01])


def test_fan_in_scaled_divides_by_root_of_fan_in():
    assert schedules.fan_in_scaled(0.1, np.zeros((3, 16))) == pytest.approx(0.1 / 4)
    assert schedules.fan_in_scaled(1.0, np.zeros((16, 9))) == pytest.approx(1 / 3)


@pytest.mark.parametrize(("make", "message"), [
    (lambda: schedules.StepDecay(0.1, factor=1.5), "factor"),
    (lambda: schedules.StepDecay(0.1, every=0), "every"),
    (lambda: schedules.ExponentialDecay(0.1, k=-1), "k: expected k ≥ 0"),
    (lambda: schedules.InverseTime(0.1, tau=0), "tau"),
    (lambda: schedules.Constant(-0.1), "alpha0"),
    (lambda: schedules.StepDecay(0.1)(-1), "t: expected a step number"),
    (lambda: schedules.fan_in_scaled(0.1, np.zeros(3)), r"\(n_out, n_in\).*\(3,\)"),
])
def test_schedule_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_optimizer_with_a_schedule_as_learning_rate():
    opt = optim.SGD(schedules.StepDecay(1.0, factor=0.5, every=1))
    params = {"w": np.zeros(1)}
    seen = []
    for _ in range(3):
        seen.append(opt.current_lr())
        opt.step(params, {"w": np.ones(1)})
    assert seen == [1.0, 0.5, 0.25]
    assert params["w"][0] == -(1.0 + 0.5 + 0.25)
    assert opt.t == 3


def test_scales_multiply_the_rate_of_single_parameters():
    params = {"W1": np.ones((2, 4)), "b1": np.ones(2)}
    grads = {"W1": np.ones((2, 4)), "b1": np.ones(2)}
    optim.SGD(0.1, scales={"W1": 0.5}).step(params, grads)
    assert params["W1"] == pytest.approx(np.full((2, 4), 1 - 0.05), abs=1e-15)
    assert params["b1"] == pytest.approx(np.full(2, 1 - 0.1), abs=1e-15)
    with pytest.raises(ValueError, match="scales"):
        optim.SGD(0.1, scales={"W9": 0.5}).step(params, grads)
    with pytest.raises(ValueError, match="scales"):
        optim.Adam(0.1, scales={"W1": -1.0})


def test_fan_in_scales():
    params = {"W1": np.zeros((256, 2)), "b1": np.zeros(256), "W2": np.zeros((3, 256)), "b2": np.zeros(3)}
    assert optim.fan_in_scales(params) == pytest.approx({"W1": 2 ** -0.5, "W2": 1 / 16})
    assert optim.fan_in_scales(params, power=1.0) == pytest.approx({"W1": 0.5, "W2": 1 / 256})


def test_nesterov_is_the_look_ahead_update_at_the_look_ahead_point():
    # Original form: v ← μv − α∇J(θ + μv), θ ← θ + v on J = ½ xᵀAx; nnlib's iterate is θ + μv.
    rng = np.random.default_rng(0)
    A = np.array([[2.0, 0.3], [0.3, 0.5]])
    theta, v, mu, lr = rng.standard_normal(2), np.zeros(2), 0.9, 0.1
    params, opt = {"x": theta.copy()}, optim.Nesterov(lr, mu=mu)
    for _ in range(10):
        v = mu * v - lr * A @ (theta + mu * v)
        theta = theta + v
        opt.step(params, {"x": A @ params["x"]})
        assert params["x"] == pytest.approx(theta + mu * v, abs=1e-13)


def test_from_function_wraps_an_update_on_arrays():
    def momentum(p, g, v, lr, t):
        v = 0.9 * v - lr * g
        return p + v, v

    ours = optim.FromFunction(momentum, 0.1, init=np.zeros_like, scales={"theta": 2.0})
    reference = optim.Momentum(0.2, mu=0.9)
    assert run(ours) == pytest.approx(run(reference), abs=1e-15)
    seen = []
    def record(p, g, s, lr, t):
        seen.append((s, lr, t))
        return p - lr * g, s

    run(optim.FromFunction(record, lambda t: 1.0 / (t + 1)))
    assert seen == [(None, 1.0, 0), (None, 0.5, 1), (None, pytest.approx(1 / 3), 2)]
    with pytest.raises(ValueError, match="rule"):
        optim.FromFunction(lambda p, g, s, lr, t: p, 0.1).step({"a": np.ones(1)}, {"a": np.ones(1)})
    with pytest.raises(ValueError, match="rule"):
        optim.FromFunction(None, 0.1)
