"""Identities between the units of notes §2.4 and their conventions at the kinks."""

import warnings

import numpy as np
import pytest

from nnlib import activations as act

Z = np.linspace(-6, 6, 241)


def test_sigmoid_derivative_is_sigma_times_one_minus_sigma():
    s = 1 / (1 + np.exp(-Z))
    np.testing.assert_allclose(act.sigmoid(Z), s, rtol=1e-15)
    np.testing.assert_allclose(act.sigmoid_prime(Z), s * (1 - s), rtol=1e-14)


def test_tanh_is_a_rescaled_sigmoid():
    np.testing.assert_allclose(act.tanh(Z), 2 * act.sigmoid(2 * Z) - 1, atol=1e-15)


def test_tanh_derivative_is_one_minus_tanh_squared():
    np.testing.assert_allclose(act.tanh_prime(Z), 1 - np.tanh(Z) ** 2, rtol=1e-14)
    assert act.tanh_prime(0.0) == 1.0


def test_softsign_derivative_is_even_unlike_the_notes_formula():
    np.testing.assert_allclose(act.softsign_prime(Z), 1 / (1 + np.abs(Z)) ** 2, rtol=1e-15)
    np.testing.assert_allclose(act.softsign_prime(-Z), act.softsign_prime(Z), rtol=0)
    notes = np.sign(Z) / (1 + np.abs(Z)) ** 2
    negative = Z < 0
    # The notes' sgn(z)/(1+|z|)² gives a negative slope where softsign is increasing.
    assert np.all(notes[negative] < 0) and np.all(act.softsign_prime(Z[negative]) > 0)
    np.testing.assert_allclose(notes[Z > 0], act.softsign_prime(Z[Z > 0]), rtol=1e-15)
    # softsign really is increasing on the negative side.
    assert np.all(np.diff(act.softsign(Z[negative])) > 0)


def test_sigmoid_does_not_overflow_at_extremes():
    z = np.array([-1000.0, -745.0, 0.0, 745.0, 1000.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow RuntimeWarning would fail here
        s = act.sigmoid(z)
        ds = act.sigmoid_prime(z)
    np.testing.assert_array_equal(s[[0, 2, 4]], [0.0, 0.5, 1.0])
    assert np.all(np.isfinite(s)) and np.all(np.isfinite(ds))
    assert ds[0] == 0.0 and ds[-1] == 0.0 and ds[2] == 0.25


@pytest.mark.parametrize(("z", "value", "slope"), [
    (-2.0, -1.0, 0.0), (-1.0 - 1e-9, -1.0, 0.0), (-1.0, -1.0, 1.0), (-0.5, -0.5, 1.0),
    (0.0, 0.0, 1.0), (1.0, 1.0, 1.0), (1.0 + 1e-9, 1.0, 0.0), (3.0, 1.0, 0.0),
])
def test_hardtanh_and_its_derivative_on_the_closed_interval(z, value, slope):
    assert act.hardtanh(z) == value
    assert act.hardtanh_prime(np.array(z)) == slope


@pytest.mark.parametrize(("z", "value", "slope"), [
    (-1.0, 0.0, 0.0), (-1e-12, 0.0, 0.0), (0.0, 0.0, 0.0), (1e-12, 1e-12, 1.0), (2.5, 2.5, 1.0),
])
def test_relu_is_flat_up_to_and_at_zero(z, value, slope):
    assert act.relu(z) == value
    assert act.relu_prime(np.array(z)) == slope


@pytest.mark.parametrize("k", [0.01, 0.2])
@pytest.mark.parametrize(("z", "positive"), [(-3.0, False), (-1e-12, False), (0.0, False),
                                             (1e-12, True), (4.0, True)])
def test_leaky_relu_has_slope_k_up_to_and_at_zero(k, z, positive):
    f, f_prime = act.get("leaky_relu", k=k)
    assert f(z) == (z if positive else k * z)
    assert f_prime(np.array(z)) == (1.0 if positive else k)


def test_leaky_relu_is_max_of_z_and_kz():
    np.testing.assert_array_equal(act.leaky_relu(Z, k=0.1), np.maximum(Z, 0.1 * Z))


def test_integer_inputs_give_float_derivatives():
    z = np.array([-2, 0, 2])
    np.testing.assert_array_equal(act.relu_prime(z), [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(act.hardtanh_prime(z), [0.0, 1.0, 0.0])
    assert act.relu_prime(z).dtype == np.float64


@pytest.mark.parametrize("name", act.NAMES)
def test_float32_in_float32_out(name):
    f, f_prime = act.get(name)
    z = np.linspace(-2, 2, 9, dtype=np.float32)
    assert f(z).dtype == np.float32
    assert f_prime(z).dtype == np.float32


def test_registry_records_the_kinks():
    assert act.lookup("relu").kinks == (0.0,)
    assert act.lookup("hardtanh").kinks == (-1.0, 1.0)
    assert act.lookup("sigmoid").kinks == ()
    assert act.lookup(act.lookup("tanh")).name == "tanh"
