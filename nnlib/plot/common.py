"""Plotting helpers shared by several chapters."""

import matplotlib.pyplot as plt
import numpy as np

CLASS_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")


def decision_boundary(ax, predict, X, y, resolution=200, margin=0.3, title=None):
    """Shade the regions that ``predict`` (an (M, 2) -> (M,) function) assigns to each
    class over the bounding box of X, and scatter the labelled points on top."""
    x_min, y_min = X.min(axis=0) - margin
    x_max, y_max = X.max(axis=0) + margin
    xx, yy = np.meshgrid(np.linspace(x_min, x_max, resolution), np.linspace(y_min, y_max, resolution))
    zz = np.asarray(predict(np.column_stack([xx.ravel(), yy.ravel()]))).reshape(xx.shape)
    n_classes = int(max(zz.max(), y.max())) + 1
    colors = CLASS_COLORS[:n_classes]
    ax.contourf(xx, yy, zz, levels=np.arange(n_classes + 1) - 0.5, colors=colors, alpha=0.25)
    for c in range(n_classes):
        pts = X[y == c]
        ax.scatter(pts[:, 0], pts[:, 1], s=12, color=colors[c], edgecolor="k", linewidth=0.3,
                   label=f"class {c}")
    ax.set_xlim(x_min, x_max)
    ax.set_ylim(y_min, y_max)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    if title:
        ax.set_title(title)
    return ax


def new_figure(width=6.0, height=3.6, ncols=1, nrows=1, **kwargs):
    """A figure with the course's default size and layout."""
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, height), layout="constrained", **kwargs)
    return fig, axes
