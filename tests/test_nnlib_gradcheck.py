"""nnlib.gradcheck: finite differences (§2.1), the per-parameter report and the kink warning."""

import numpy as np
import pytest

from nnlib import gradcheck
from nnlib.gradcheck import KinkWarning, check_gradients, normwise_error, numerical_gradient, relative_error


@pytest.mark.parametrize("shape", [(), (4,), (2, 3), (2, 3, 2)])
def test_numerical_gradient_of_a_cubic_on_any_rank(shape):
    x = np.random.default_rng(0).normal(size=shape)
    g = numerical_gradient(lambda t: np.sum(t ** 3), x)
    assert g.shape == shape
    np.testing.assert_allclose(g, 3 * x ** 2, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("centered", [True, False])
def test_x_is_restored_bit_for_bit(centered):
    x = np.random.default_rng(1).normal(size=(3, 4)) * 1e3 + 0.1
    before = x.copy()
    numerical_gradient(lambda t: np.sum(np.sin(t)), x, h=1e-3, centered=centered)
    assert x.tobytes() == before.tobytes()


def test_x_is_restored_when_f_raises():
    x = np.array([0.1, 0.2, 0.3])
    before = x.copy()
    calls = []

    def f(t):
        calls.append(t.copy())
        if len(calls) == 4:  # in the middle of the second element's pair of evaluations
            raise RuntimeError("boom")
        return float(np.sum(t))

    with pytest.raises(RuntimeError, match="boom"):
        numerical_gradient(f, x)
    assert len(calls) == 4 and calls[-1][1] != before[1]  # f did see the perturbed element
    assert x.tobytes() == before.tobytes()


def errors_over_steps(centered, steps):
    x0 = 0.7  # f = exp, so every derivative at x0 is exp(x0)
    exact = np.exp(x0)
    return [abs(numerical_gradient(lambda t: np.exp(t).sum(), np.array([x0]), h=h, centered=centered)[0]
                - exact) for h in steps]


def test_centered_difference_error_is_second_order_and_one_sided_first_order():
    steps = np.array([1e-2, 5e-3, 2.5e-3, 1.25e-3])
    slope_centered = np.polyfit(np.log(steps), np.log(errors_over_steps(True, steps)), 1)[0]
    slope_one_sided = np.polyfit(np.log(steps), np.log(errors_over_steps(False, steps)), 1)[0]
    assert slope_centered == pytest.approx(2.0, abs=0.05)
    assert slope_one_sided == pytest.approx(1.0, abs=0.05)
    # and the leading terms are the Taylor ones: f''h/2 and f'''h²/6
    h = 1e-3
    assert errors_over_steps(False, [h])[0] == pytest.approx(np.exp(0.7) * h / 2, rel=1e-2)
    assert errors_over_steps(True, [h])[0] == pytest.approx(np.exp(0.7) * h * h / 6, rel=1e-2)


def test_numerical_gradient_rejects_non_float_arrays_and_bad_steps():
    with pytest.raises(ValueError, match="int64"):
        numerical_gradient(np.sum, np.arange(3))
    with pytest.raises(ValueError, match="float numpy array"):
        numerical_gradient(np.sum, [1.0, 2.0])
    with pytest.raises(ValueError, match="h: expected a positive step"):
        numerical_gradient(np.sum, np.ones(2), h=0)


def quadratic_problem():
    """J = Σ a·W² + Σ b³, whose exact gradient is known."""
    rng = np.random.default_rng(3)
    params = {"W": rng.normal(size=(3, 4)), "b": rng.normal(size=5)}
    a = 1.5

    def loss():
        return a * np.sum(params["W"] ** 2) + np.sum(params["b"] ** 3)

    grads = {"W": 2 * a * params["W"], "b": 3 * params["b"] ** 2}
    return params, grads, loss


def test_check_gradients_passes_on_correct_gradients_and_restores_params():
    params, grads, loss = quadratic_problem()
    before = {k: v.copy() for k, v in params.items()}
    report = check_gradients(loss, params, grads)
    assert report.passed
    assert [r.name for r in report] == ["W", "b"]
    assert [r.checked for r in report] == [12, 5]
    assert all(r.passed and r.max_relative_error < 1e-8 for r in report)
    for k in params:
        np.testing.assert_array_equal(params[k], before[k])


def test_check_gradients_names_the_worst_element_of_a_wrong_gradient():
    params, grads, loss = quadratic_problem()
    grads["W"] = grads["W"].copy()
    grads["W"][2, 1] *= 1.01  # one wrong entry, off by 1 %
    report = check_gradients(loss, params, grads)
    assert not report.passed
    w, b = report
    assert not w.passed and b.passed
    assert w.worst_index == (2, 1)
    assert w.analytic == pytest.approx(1.01 * 3.0 * params["W"][2, 1], rel=1e-12)
    assert w.numerical == pytest.approx(3.0 * params["W"][2, 1], rel=1e-8)
    assert w.max_relative_error == pytest.approx(0.01 / 2.01, rel=1e-4)
    exact = 3.0 * params["W"]
    assert w.normwise_error == pytest.approx(
        0.01 * abs(exact[2, 1]) / (np.linalg.norm(grads["W"]) + np.linalg.norm(exact)), rel=1e-4)
    text = str(report)
    assert "FAIL W" in text and "(2, 1)" in text and text.count("ok  ") == 1


def test_check_gradients_threshold_decides_the_verdict():
    params, grads, loss = quadratic_problem()
    grads["b"] = grads["b"] * (1 + 1e-6)
    assert not check_gradients(loss, params, grads).passed
    assert check_gradients(loss, params, grads, threshold=1e-5).passed


def test_sampled_mode_checks_that_many_elements_reproducibly():
    params, grads, loss = quadratic_problem()
    calls = []

    def counting_loss():
        calls.append(1)
        return loss()

    report = check_gradients(counting_loss, params, grads, num_checks=3, seed=5)
    assert [r.checked for r in report] == [3, 3]
    assert len(calls) == 2 * 3 * 2  # two evaluations per checked element
    again = check_gradients(loss, params, grads, num_checks=3, seed=5)
    assert [r.worst_index for r in report] == [r.worst_index for r in again]
    # Every entry of W is now wrong, so any sample of it must fail.
    grads["W"] = grads["W"] + 1.0
    assert not check_gradients(loss, params, grads, num_checks=2).passed


def test_check_gradients_rejects_mismatched_dicts_and_shapes():
    params, grads, loss = quadratic_problem()
    with pytest.raises(ValueError, match="same keys"):
        check_gradients(loss, params, {"W": grads["W"]})
    with pytest.raises(ValueError, match=r"\(3, 4\).*\(4, 3\)"):
        check_gradients(loss, params, {"W": grads["W"].T, "b": grads["b"]})


def test_kink_warning_near_a_relu_kink():
    params, grads, loss = quadratic_problem()
    with pytest.warns(KinkWarning, match="1 input.*relu"):
        check_gradients(loss, params, grads, preactivations=[("relu", np.array([0.5, 3e-6, -2.0]))])
    with pytest.warns(KinkWarning, match="hardtanh"):
        gradcheck.warn_near_kinks([("hardtanh", np.array([1.0 - 1e-7]))], h=1e-5)


def test_no_kink_warning_away_from_kinks_or_for_smooth_units():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gradcheck.warn_near_kinks([("relu", np.array([1e-3, -1e-3])), ("sigmoid", np.zeros(3))], h=1e-5)


def test_relative_error_properties():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    assert relative_error(a, a) == 0.0
    assert relative_error(a, b) == relative_error(b, a)
    assert relative_error(1e6 * a, 1e6 * b) == pytest.approx(relative_error(a, b), rel=1e-12)
    assert 0.0 <= relative_error(a, b) <= 1.0
    assert relative_error(np.array([1.0]), np.array([-1.0])) == 1.0
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0  # the floor avoids 0/0
    assert relative_error(np.array([1.0, 1.0]), np.array([1.0, 1.1])) == pytest.approx(0.1 / 2.1)
    assert relative_error(np.zeros((0, 2)), np.zeros((0, 2))) == 0.0
    with pytest.raises(ValueError, match=r"\(3, 2\).*\(2, 3\)"):
        relative_error(a, b.T)


def test_normwise_error_properties():
    rng = np.random.default_rng(6)
    a, b = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    assert normwise_error(a, a) == 0.0
    assert normwise_error(a, b) == normwise_error(b, a)
    assert normwise_error(1e6 * a, 1e6 * b) == pytest.approx(normwise_error(a, b), rel=1e-12)
    assert 0.0 <= normwise_error(a, b) <= relative_error(a, b) <= 1.0  # never above the worst element
    assert normwise_error(a, -a) == pytest.approx(1.0)
    assert normwise_error(np.zeros(3), np.zeros(3)) == 0.0  # the floor avoids 0/0
    assert normwise_error(np.array([3.0, 0.0]), np.array([3.0, 4.0])) == pytest.approx(4.0 / 8.0)
    assert normwise_error(np.zeros((0, 2)), np.zeros((0, 2))) == 0.0
    with pytest.raises(ValueError, match=r"\(4, 3\).*\(3, 4\)"):
        normwise_error(a, b.T)


def tiny_entries_problem():
    """J = Σ c·tanh(W) with some c tiny: a correct gradient whose tiny entries carry round-off."""
    rng = np.random.default_rng(7)
    params = {"W": rng.normal(size=(6, 5))}
    c = rng.normal(size=(6, 5)) * np.where(rng.random((6, 5)) < 0.3, 1e-7, 1.0)

    def loss():
        return float(np.sum(c * np.tanh(params["W"])))

    return params, {"W": c / np.cosh(params["W"]) ** 2}, loss


def test_normwise_rule_passes_a_correct_gradient_with_tiny_entries_the_elementwise_rule_fails():
    params, grads, loss = tiny_entries_problem()
    normwise, = check_gradients(loss, params, grads)
    elementwise, = check_gradients(loss, params, grads, rule="elementwise")
    assert normwise.passed and normwise.normwise_error < 1e-8
    assert not elementwise.passed and elementwise.max_relative_error > 1e-5
    assert normwise.max_relative_error == elementwise.max_relative_error  # only the verdict differs


@pytest.mark.parametrize("rule", ["normwise", "elementwise"])
def test_both_rules_fail_a_wrong_formula(rule):
    params, grads, loss = quadratic_problem()
    grads["W"] = grads["W"] / 2  # a factor 2 forgotten in every entry
    w, b = check_gradients(loss, params, grads, rule=rule)
    assert not w.passed and b.passed
    assert w.normwise_error == pytest.approx(1 / 3, rel=1e-6)


def test_check_gradients_rejects_an_unknown_rule():
    params, grads, loss = quadratic_problem()
    with pytest.raises(ValueError, match="rule: expected one of"):
        check_gradients(loss, params, grads, rule="max")
