"""Preprocessing of §2.5: statistics come from the training set and only from it."""

import numpy as np
import pytest

from nnlib.preprocessing import MeanSubtraction, PCAWhitening, Standardization


def correlated(n, seed, shift=0.0):
    rng = np.random.default_rng(seed)
    mixing = np.array([[2.0, 0.0, 0.0], [1.5, 0.5, 0.0], [-1.0, 0.3, 0.1]])
    return rng.normal(size=(n, 3)) @ mixing.T + np.array([5.0, -2.0, 1.0]) + shift


def test_whitening_gives_identity_covariance_on_training_data():
    X = correlated(300, seed=0)
    assert abs(np.corrcoef(X, rowvar=False)[0, 1]) > 0.9  # strongly correlated before
    Xw = PCAWhitening().fit_transform(X)
    np.testing.assert_allclose(np.cov(Xw, rowvar=False), np.eye(3), atol=1e-10)
    np.testing.assert_allclose(Xw.mean(axis=0), 0, atol=1e-12)


def test_whitening_transform_uses_training_statistics_only():
    X_train, X_val = correlated(300, seed=0), correlated(100, seed=1, shift=4.0)
    pca = PCAWhitening().fit(X_train)
    Z_val = pca.transform(X_val)
    # The validation set is not re-centred: its mean moves by the training transform only.
    expected_mean = (X_val.mean(axis=0) - X_train.mean(axis=0)) @ pca.components / pca.scale
    np.testing.assert_allclose(Z_val.mean(axis=0), expected_mean, atol=1e-10)
    assert np.abs(Z_val.mean(axis=0)).max() > 1.0
    refit = PCAWhitening().fit(X_val).transform(X_val)
    assert not np.allclose(refit, Z_val)


@pytest.mark.parametrize("transformer", [MeanSubtraction, Standardization, PCAWhitening])
def test_transform_does_not_refit(transformer):
    X_train, X_val = correlated(200, seed=2), correlated(50, seed=3, shift=1.0)
    t = transformer().fit(X_train)
    first = t.transform(X_val)
    t.transform(correlated(80, seed=4, shift=-7.0))
    np.testing.assert_array_equal(t.transform(X_val), first)
    np.testing.assert_array_equal(t.transform(X_train), transformer().fit_transform(X_train))


def test_mean_subtraction():
    X = correlated(100, seed=5)
    out = MeanSubtraction().fit_transform(X)
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=0), X.std(axis=0), rtol=1e-12)


def test_standardization_unit_variance_and_constant_feature():
    X = correlated(200, seed=6)
    X[:, 1] = 3.0  # a constant feature is centred, not divided by zero
    s = Standardization().fit(X)
    out = s.transform(X)
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=0), [1.0, 0.0, 1.0], atol=1e-12)
    assert np.all(np.isfinite(out))
    X_val = correlated(20, seed=7)
    np.testing.assert_allclose(s.transform(X_val), (X_val - X.mean(axis=0)) / s.std, rtol=1e-15)


@pytest.mark.parametrize("transformer", [MeanSubtraction, Standardization, PCAWhitening])
def test_transform_before_fit(transformer):
    with pytest.raises(ValueError, match=rf"{transformer.__name__}: call fit\(X_train\) before transform"):
        transformer().transform(np.ones((3, 2)))


@pytest.mark.parametrize("transformer", [MeanSubtraction, Standardization, PCAWhitening])
def test_wrong_width(transformer):
    t = transformer().fit(correlated(30, seed=8))
    with pytest.raises(ValueError) as info:
        t.transform(np.ones((4, 2)))
    assert "(N, 3)" in str(info.value) and "(4, 2)" in str(info.value)


@pytest.mark.parametrize(("X", "message"), [
    (np.ones(5), r"\(N, \*\).*\(5,\)"),
    (np.ones((1, 3)), "at least 2 training rows"),
    (np.array([["a", "b"], ["c", "d"]]), "dtype"),
])
def test_fit_errors(X, message):
    with pytest.raises(ValueError, match=message):
        PCAWhitening().fit(X)
