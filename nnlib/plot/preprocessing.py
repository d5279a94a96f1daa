"""Figures of §2.5: a correlated cloud through centring, normalization and whitening."""

import numpy as np

from .. import preprocessing
from .common import new_figure

STAGE_TITLES = ("raw data", "mean subtracted", "normalized (÷ train std)", "PCA whitened")


def correlated_cloud(n=300, mean=(4.0, -2.0), std=(3.0, 0.8), corr=0.8, seed=0):
    """n points (n, 2) of a Gaussian cloud: feature stds ``std``, correlation ``corr``."""
    if not -1 < corr < 1:
        raise ValueError(f"corr: expected a correlation strictly between -1 and 1, got {corr!r}")
    rng = np.random.default_rng(seed)
    s1, s2 = std
    cov = np.array([[s1 * s1, corr * s1 * s2], [corr * s1 * s2, s2 * s2]])
    return rng.standard_normal((n, 2)) @ np.linalg.cholesky(cov).T + np.asarray(mean)


def stages(X_train, X_other=None):
    """[(title, train, other)] for the four stages; every transform is fitted on X_train only."""
    transforms = (None, preprocessing.MeanSubtraction(), preprocessing.Standardization(),
                  preprocessing.PCAWhitening())
    out = []
    for title, t in zip(STAGE_TITLES, transforms):
        if t is None:
            out.append((title, X_train, X_other))
            continue
        t.fit(X_train)
        out.append((title, t.transform(X_train), None if X_other is None else t.transform(X_other)))
    return out


def _draw_axes_of_covariance(ax, X):
    """The principal axes of X's covariance as arrows of length one standard deviation."""
    centre = X.mean(axis=0)
    variances, vectors = np.linalg.eigh(np.cov(X, rowvar=False))
    for var, v in zip(variances, vectors.T):
        ax.annotate("", xy=centre + np.sqrt(var) * v, xytext=centre,
                    arrowprops=dict(arrowstyle="-|>", color="k", linewidth=2))


def draw_preprocessing(X_train, X_other=None):
    """Four panels, one per stage: the training cloud (blue), an optional held-out set (orange)
    transformed with the training statistics, and the principal axes of the training cloud."""
    fig, axes = new_figure(7.5, 7.0, ncols=2, nrows=2)
    everything = [X for _, tr, ot in stages(X_train, X_other) for X in (tr, ot) if X is not None]
    lim = 1.05 * max(np.abs(X).max() for X in everything)
    for ax, (title, train, other) in zip(axes.ravel(), stages(X_train, X_other)):
        ax.scatter(train[:, 0], train[:, 1], s=6, alpha=0.5, color="#1f77b4", label="train")
        if other is not None:
            ax.scatter(other[:, 0], other[:, 1], s=6, alpha=0.6, color="#ff7f0e",
                       label="validation (train statistics)")
        _draw_axes_of_covariance(ax, train)
        ax.axhline(0, color="grey", linewidth=0.6)
        ax.axvline(0, color="grey", linewidth=0.6)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.set_xlabel("feature 1")
        ax.set_ylabel("feature 2")
        ax.set_title(title)
    axes[0, 0].legend(fontsize=8, loc="lower left")
    return fig


def draw_leakage(x_train, x_test, threshold):
    """Two 1-D panels of a test batch centred with the training mean (left) and with its own
    mean (right), against the decision threshold learned on the centred training data."""
    fig, axes = new_figure(7.0, 3.0, ncols=2, sharey=True)
    right = x_test - x_train.mean()
    wrong = x_test - x_test.mean()
    bins = np.linspace(min(right.min(), wrong.min(), (x_train - x_train.mean()).min()),
                       max(right.max(), wrong.max()), 31)
    for ax, x, title in ((axes[0], right, "centred with the TRAINING mean"),
                         (axes[1], wrong, "centred with its OWN mean")):
        ax.hist(x_train - x_train.mean(), bins=bins, color="#cccccc",
                label="train (both classes)")
        ax.hist(x, bins=bins, color="#ff7f0e", alpha=0.8, label="test batch (all class 1)")
        ax.axvline(threshold, color="k", linestyle="--", label="learned threshold")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("centred feature")
    axes[0].set_ylabel("count")
    axes[0].legend(fontsize=7, loc="upper left")
    return fig
