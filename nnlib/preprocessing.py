"""Data preprocessing of §2.5: statistics come from the training set only.

Each transformer is fitted once with ``fit(X_train)`` and then applied unchanged
to the training, validation and test sets with ``transform``. Data are rows:
X has shape (N, D).
"""

import numpy as np

from ._checks import as_float_array, check_shape


class _Fitted:
    dim = None

    def _check(self, X, fitting=False):
        X = as_float_array("X", X)
        if fitting:
            check_shape("X", X, (None, None))
            if X.shape[0] < 2:
                raise ValueError(f"X: need at least 2 training rows to fit, got {X.shape[0]}")
            return X
        if self.dim is None:
            raise ValueError(f"{type(self).__name__}: call fit(X_train) before transform")
        check_shape("X", X, (None, self.dim))
        return X

    def fit_transform(self, X):
        return self.fit(X).transform(X)


class MeanSubtraction(_Fitted):
    """X − μ_train."""

    def fit(self, X):
        X = self._check(X, fitting=True)
        self.mean = X.mean(axis=0)
        self.dim = X.shape[1]
        return self

    def transform(self, X):
        return self._check(X) - self.mean


class Standardization(_Fitted):
    """(X − μ_train) / σ_train per feature; constant features are only centred."""

    def fit(self, X):
        X = self._check(X, fitting=True)
        self.mean = X.mean(axis=0)
        std = X.std(axis=0)
        self.std = np.where(std > 0, std, 1.0)
        self.dim = X.shape[1]
        return self

    def transform(self, X):
        return (self._check(X) - self.mean) / self.std


class PCAWhitening(_Fitted):
    """Decorrelate and scale to unit variance with the SVD of the centred training data.

    With X' = X − μ (N, D) and X' = U S Vᵀ, the principal directions are the
    columns of V, so the projection of the rows is X' V. The notes' "U X'" mixes
    examples rather than features: with the full SVD (U is N×N) it conforms but is
    meaningless, with the thin SVD (U is N×D) it does not even conform. Dividing
    column i by S_i / √(N−1) gives a training covariance of exactly I. Singular
    values below ``eps`` are replaced by ``eps`` rather than dividing by zero.
    """

    def __init__(self, eps=1e-8):
        self.eps = eps

    def fit(self, X):
        X = self._check(X, fitting=True)
        self.mean = X.mean(axis=0)
        _, S, Vt = np.linalg.svd(X - self.mean, full_matrices=False)
        self.components = Vt.T
        self.scale = np.maximum(S, self.eps) / np.sqrt(X.shape[0] - 1)
        self.dim = X.shape[1]
        return self

    def transform(self, X):
        return (self._check(X) - self.mean) @ self.components / self.scale
