"""Figures of §1.4–1.6: the hinge of the max-margin loss, layered network diagrams
(Figures 5–8 of the notes) with the paths that carry an error signal highlighted,
and the outer product ∇W = δ aᵀ.

Network nodes are keyed ``(layer, index)`` with both numbers 1-based, as in the
notes (layer 1 is the input); an edge is ``((k, j), (k + 1, i))`` and carries
the weight W_ij⁽ᵏ⁾.
"""

import numpy as np
from matplotlib.patches import Circle

from .common import new_figure

HIGHLIGHT, NORMAL, FADED = "#d62728", "#333333", "#c8c8c8"
ACTIVE, INACTIVE = "#d62728", "#1f77b4"
RADIUS = 0.22
LAYER_GAP = 2.2  # horizontal distance between layers, in units of the vertical spacing


# --- §1.4: the hinge ------------------------------------------------------------------

def hinge(gap, delta):
    """J = max(Δ − (s − s_c), 0) as a function of the gap s − s_c."""
    return np.maximum(delta - np.asarray(gap, dtype=float), 0.0)


def plot_hinge(deltas=(0.0, 1.0), xlim=(-3.0, 3.0)):
    """J against s − s_c, one curve per margin Δ, with each kink marked at s − s_c = Δ."""
    fig, ax = new_figure(6, 3.5)
    gap = np.linspace(*xlim, 601)
    for delta, style in zip(deltas, ("--", "-", ":", "-.")):
        ax.plot(gap, hinge(gap, delta), style, linewidth=2, label=rf"$\Delta = {delta:g}$")
        ax.plot([delta], [0], "o", color="k", markersize=4)
    ax.axvline(0, color="k", linewidth=0.6)
    ax.annotate("slope −1: the loss pushes\n$s$ up and $s_c$ down", xy=(-1.5, 2.5), xytext=(-0.6, 3.3),
                fontsize=8, arrowprops={"arrowstyle": "->", "linewidth": 0.8})
    ax.annotate("flat: margin met,\nno gradient", xy=(2.0, 0.0), xytext=(1.4, 1.2), fontsize=8,
                arrowprops={"arrowstyle": "->", "linewidth": 0.8})
    ax.set_xlim(*xlim)
    ax.set_ylim(-0.2, xlim[1] - xlim[0] + 0.2 - 2)
    ax.set_xlabel(r"$s - s_c$ (true score minus corrupt score)")
    ax.set_ylabel(r"$J = \max(\Delta + s_c - s,\ 0)$")
    ax.set_title("The max-margin (hinge) loss of one pair of windows")
    ax.legend(loc="upper right", fontsize=8)
    return fig


def plot_margin_batch(gaps, delta=1.0, scale=1.0, xlim=(-4.0, 11.0)):
    """Windows of a batch on the hinge: ``gaps`` are s − s_c with the scorer's U as is;
    multiplying U by ``scale`` multiplies every gap by it. Windows with J > 0 are red."""
    gaps = scale * np.asarray(gaps, dtype=float)
    losses = hinge(gaps, delta)
    active = losses > 0
    fig, ax = new_figure(5.5, 3.2)
    grid = np.linspace(*xlim, 401)
    ax.plot(grid, hinge(grid, delta), color="k", linewidth=1.2, label=rf"$J$ for $\Delta = {delta:g}$")
    ax.scatter(gaps[~active], losses[~active], s=12, color=INACTIVE, label="margin met ($J=0$)")
    ax.scatter(gaps[active], losses[active], s=12, color=ACTIVE, label="margin violated ($J>0$)")
    ax.set_xlim(*xlim)
    ax.set_ylim(-0.3, 6.0)
    ax.set_xlabel(r"$s - s_c$ with $U$ scaled by " + f"{scale:g}")
    ax.set_ylabel("loss $J_i$ of window $i$")
    ax.set_title(rf"$\Delta = {delta:g}$, $U\times{scale:g}$: {int(active.sum())} of {gaps.size} "
                 f"windows violate the margin", fontsize=10)
    ax.legend(loc="upper right", fontsize=7)
    return fig


# --- §1.5: layered network diagrams -----------------------------------------------------

def node_position(sizes, node):
    """(x, y) of ``node`` = (layer, index): layers left to right, neurons top to bottom."""
    layer, index = node
    if not (1 <= layer <= len(sizes) and 1 <= index <= sizes[layer - 1]):
        raise ValueError(f"node: {node} is not in a network of layer sizes {list(sizes)}")
    return LAYER_GAP * (layer - 1), (sizes[layer - 1] - 1) / 2 - (index - 1)


def _edge_points(p, q):
    """The segment from circle p to circle q, trimmed so that it starts and ends at the rims."""
    p, q = np.array(p), np.array(q)
    unit = (q - p) / np.linalg.norm(q - p)
    return p + RADIUS * unit, q - RADIUS * unit


def draw_network(ax, sizes, node_labels=None, node_notes=None, edge_labels=None,
                 highlight_nodes=(), highlight_edges=(), backward=False, layer_names=None,
                 title=None):
    """Draw a fully connected layered network into ``ax`` and return ``ax``.

    sizes            neurons per layer, left to right, e.g. ``[4, 2, 1]``
    node_labels      {node: text} written inside the circle
    node_notes       {node: text} written below the circle (e.g. numbers of a concrete network)
    edge_labels      {edge: text} written along the edge
    highlight_nodes, highlight_edges
                     drawn in red; when anything is highlighted the rest fades to grey
    backward         draw highlighted edges as arrows pointing back toward the input,
                     the direction in which the error signal flows
    layer_names      one x tick label per layer (default: "layer k")
    """
    sizes = [int(n) for n in sizes]
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"sizes: expected at least two layers of positive size, got {sizes}")
    node_labels, node_notes, edge_labels = node_labels or {}, node_notes or {}, edge_labels or {}
    highlight_nodes, highlight_edges = set(highlight_nodes), set(highlight_edges)
    base = FADED if (highlight_nodes or highlight_edges) else NORMAL
    for k in range(1, len(sizes)):
        for j in range(1, sizes[k - 1] + 1):
            for i in range(1, sizes[k] + 1):
                _draw_edge(ax, sizes, ((k, j), (k + 1, i)), highlight_edges, base, backward,
                           edge_labels)
    for k, size in enumerate(sizes, start=1):
        for i in range(1, size + 1):
            node = (k, i)
            x, y = node_position(sizes, node)
            color = HIGHLIGHT if node in highlight_nodes else base
            ax.add_patch(Circle((x, y), RADIUS, facecolor="white", edgecolor=color, linewidth=1.6,
                                zorder=3))
            if node in node_labels:
                ax.text(x, y, node_labels[node], ha="center", va="center", fontsize=9, color=color,
                        zorder=4)
            if node in node_notes:
                ax.text(x, y - RADIUS - 0.05, node_notes[node], ha="center", va="top", fontsize=7,
                        color=color, zorder=4)
    names = layer_names or [f"layer {k}" for k in range(1, len(sizes) + 1)]
    if len(names) != len(sizes):
        raise ValueError(f"layer_names: expected {len(sizes)} names, got {len(names)}")
    tallest = max(sizes)
    ax.set_xlim(-0.6, LAYER_GAP * (len(sizes) - 1) + 0.6)
    ax.set_ylim(-(tallest - 1) / 2 - 0.7, (tallest - 1) / 2 + 0.45)
    ax.set_aspect("equal")
    ax.set_xticks([LAYER_GAP * k for k in range(len(sizes))], names, fontsize=8)
    ax.set_yticks([])
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.set_xlabel("forward direction →", fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def _draw_edge(ax, sizes, edge, highlighted, base, backward, labels):
    start, end = _edge_points(node_position(sizes, edge[0]), node_position(sizes, edge[1]))
    on = edge in highlighted
    color = HIGHLIGHT if on else base
    if on and backward:
        ax.annotate("", xy=start, xytext=end, zorder=2,
                    arrowprops={"arrowstyle": "-|>", "color": color, "linewidth": 1.8})
    else:
        ax.plot(*zip(start, end), color=color, linewidth=1.8 if on else 0.9, zorder=1)
    if edge in labels:
        x, y = start + 0.5 * (end - start)
        ax.text(x, y + 0.06, labels[edge], ha="center", va="bottom", fontsize=8, color=color,
                zorder=4, bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5})


FOUR_TWO_ONE_NAMES = ("layer 1 (input)", "layer 2 (hidden)", "layer 3 (score)")


def four_two_one_labels():
    """Node labels of Figure 5: a_j⁽¹⁾ = x_j at the input, z → a in the hidden layer, s at the top."""
    labels = {(1, j): f"$x_{j}$" for j in range(1, 5)}
    labels.update({(2, i): f"$a_{i}^{{(2)}}$" for i in (1, 2)})
    labels[(3, 1)] = "$s$"
    return labels


def plot_four_two_one(node_notes=None, highlight_weight=None, edge_labels=None, title=None):
    """Figure 5 (no highlight) or Figure 6 (``highlight_weight=(i, j)``): the 4-2-1 network.

    With ``highlight_weight=(i, j)`` the sub-network that W_ij⁽¹⁾ influences is red:
    input j, hidden neuron i, the score, and the two weights on that path.
    """
    fig, ax = new_figure(6, 3.6)
    nodes, edges, labels = (), (), dict(edge_labels or {})
    if highlight_weight is not None:
        i, j = highlight_weight
        first, second = ((1, j), (2, i)), ((2, i), (3, 1))
        nodes, edges = ((1, j), (2, i), (3, 1)), (first, second)
        labels.setdefault(first, f"$W_{{{i}{j}}}^{{(1)}}$")
        labels.setdefault(second, f"$W_{{{i}}}^{{(2)}}$")
    default = ("Figure 5: the 4-2-1 network" if highlight_weight is None else
               f"Figure 6: what $W_{{{highlight_weight[0]}{highlight_weight[1]}}}^{{(1)}}$ touches")
    draw_network(ax, [4, 2, 1], node_labels=four_two_one_labels(), node_notes=node_notes,
                 edge_labels=labels, highlight_nodes=nodes, highlight_edges=edges,
                 backward=highlight_weight is not None, layer_names=FOUR_TWO_ONE_NAMES,
                 title=title or default)
    return fig


def plot_error_sharing():
    """Figures 7 and 8 side by side: δ_i⁽ᵏ⁾ reaching a_j⁽ᵏ⁻¹⁾ along one path, then
    a_j⁽ᵏ⁻¹⁾ collecting the errors of every neuron it feeds."""
    fig, axes = new_figure(7, 3.4, ncols=2)
    labels = {(1, 2): "$j$", (2, 1): "$i$", (2, 3): "$m$"}
    names = ("layer $k-1$", "layer $k$")
    one = ((1, 2), (2, 1))
    two = ((1, 2), (2, 3))
    edge_labels = {one: "$W_{ij}^{(k-1)}$", two: "$W_{mj}^{(k-1)}$"}
    draw_network(axes[0], [3, 3], node_labels=labels, edge_labels={one: edge_labels[one]},
                 node_notes={(2, 1): r"$\delta_i^{(k)}$", (1, 2): r"gets $\delta_i^{(k)} W_{ij}^{(k-1)}$"},
                 highlight_nodes=((1, 2), (2, 1)), highlight_edges=(one,), backward=True,
                 layer_names=names, title="Figure 7: one path back")
    draw_network(axes[1], [3, 3], node_labels=labels, edge_labels=edge_labels,
                 node_notes={(2, 1): r"$\delta_i^{(k)}$", (2, 3): r"$\delta_m^{(k)}$",
                             (1, 2): r"gets $\sum_i \delta_i^{(k)} W_{ij}^{(k-1)}$"},
                 highlight_nodes=((1, 2), (2, 1), (2, 3)), highlight_edges=(one, two),
                 backward=True, layer_names=names, title="Figure 8: the errors add up")
    return fig


# --- §1.6: the outer product ------------------------------------------------------------

def plot_outer_product(delta, a, title=None):
    """∇W⁽ᵏ⁾ = δ⁽ᵏ⁺¹⁾ a⁽ᵏ⁾ᵀ as three heat maps: δ as a column, aᵀ as a row, their product.

    Each panel has its own symmetric colour scale (red positive, blue negative), and the
    rows and columns are numbered from 1 as in the notes.
    """
    delta = np.asarray(delta, dtype=float).ravel()
    a = np.asarray(a, dtype=float).ravel()
    grad = np.outer(delta, a)
    fig, axes = new_figure(6, 3.2, ncols=3, width_ratios=[1, a.size, a.size])
    panels = [(delta[:, None], r"$\delta^{(k+1)}$"), (a[None, :], r"$a^{(k)T}$"),
              (grad, r"$\nabla_{W^{(k)}} = \delta^{(k+1)} a^{(k)T}$")]
    for ax, (values, label) in zip(axes, panels):
        limit = max(float(np.abs(values).max()), 1e-12)
        image = ax.imshow(values, cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set_title(label, fontsize=9)
        rows, cols = values.shape
        ax.set_xticks(range(cols), [str(j + 1) for j in range(cols)] if cols > 1 else [])
        ax.set_yticks(range(rows), [str(i + 1) for i in range(rows)] if rows > 1 else [])
    axes[0].set_ylabel("$i$ (neuron of layer $k+1$)")
    axes[1].set_xlabel("$j$ (neuron of layer $k$)")
    axes[2].set_xlabel("column $j$")
    axes[2].set_ylabel("row $i$")
    fig.colorbar(image, ax=axes[2], shrink=0.6)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def plot_weight_gradient(x, delta2, i, j):
    """Figure 6 for any weight W_ij⁽¹⁾ of the 4-2-1 network: its path in red, the input
    a_j⁽¹⁾ = x_j it forwards, the error δ_i⁽²⁾ it receives, and their product ∂s/∂W_ij⁽¹⁾.

    x (4,) is the input, delta2 (2,) the errors of the hidden neurons; i, j are 1-based.
    """
    x, delta2 = np.asarray(x, dtype=float), np.asarray(delta2, dtype=float)
    notes = {(1, j): f"$a_{j}^{{(1)}} = {x[j - 1]:.3f}$",
             (2, i): rf"$\delta_{i}^{{(2)}} = {delta2[i - 1]:.3f}$"}
    title = (rf"$\partial s/\partial W_{{{i}{j}}}^{{(1)}} = \delta_{i}^{{(2)}} a_{j}^{{(1)}}"
             rf" = {delta2[i - 1] * x[j - 1]:.4f}$")
    return plot_four_two_one(node_notes=notes, highlight_weight=(i, j), title=title)


def plot_first_layer_gradient(X, activation="sigmoid", example=1, hidden=5, seed=0):
    """∇W⁽¹⁾ = δ⁽²⁾ a⁽¹⁾ᵀ of one example (1-based row of X) in a fresh one-hidden-layer
    MLP with ∂J/∂s = 1, drawn by :func:`plot_outer_product`. A hidden unit with f'(z) = 0
    (a ReLU switched off) has δ = 0, so its whole row of the gradient is zero."""
    from ..network import MLP

    X = np.asarray(X, dtype=float)
    if not 1 <= example <= len(X):
        raise ValueError(f"example: expected a row number in 1..{len(X)}, got {example!r}")
    x = X[example - 1:example]
    net = MLP([X.shape[1], hidden, 1], activation=activation, seed=seed)
    net.forward(x)
    net.backward(np.ones((1, 1)))
    delta = net.grads["b1"]  # one example: ∇b⁽¹⁾ is δ⁽²⁾ itself
    return plot_outer_product(delta, x[0], title=f"{activation}, example {example}")
