"""Network diagrams drawn with matplotlib: a single neuron, layered networks, pipelines.

Every function draws on a given Axes, switches its frame off and returns what a
caller needs to annotate further (node positions). Nodes of a layered network are
named ``(layer, i)``, both counted from 0, so ``(0, 2)`` is the third input and
``(1, 0)`` the first unit of the first hidden layer. Labels are matplotlib text,
so LaTeX (``r"$a_1^{(2)}$"``) works everywhere.
"""

import matplotlib.patches as mpatches
import numpy as np

NODE_COLOR = "#f4f4f4"
EDGE_COLOR = "#9a9a9a"
HIGHLIGHT = "#d62728"
BIAS_COLOR = "#fff3c4"


def _check_layer_sizes(layer_sizes):
    sizes = [int(n) for n in layer_sizes]
    if len(sizes) < 1 or min(sizes) < 1 or any(int(n) != n for n in layer_sizes):
        raise ValueError(f"layer_sizes: expected positive integers, got {list(layer_sizes)!r}")
    return sizes


def _as_color_map(items, default):
    """Accept either an iterable of keys (all in ``default``) or a {key: color} dict."""
    if items is None:
        return {}
    if isinstance(items, dict):
        return dict(items)
    return {key: default for key in items}


def _circle(ax, xy, radius, label, color, edge, fontsize, lw=1.0):
    ax.add_patch(mpatches.Circle(xy, radius, facecolor=color, edgecolor=edge, lw=lw, zorder=3))
    if label:
        ax.text(*xy, label, ha="center", va="center", fontsize=fontsize, zorder=4)


def _arrow(ax, start, end, color=EDGE_COLOR, lw=1.0, shrink=0.0):
    ax.annotate("", xy=end, xytext=start, zorder=2,
                arrowprops=dict(arrowstyle="-|>", color=color, lw=lw, shrinkA=shrink, shrinkB=shrink,
                                mutation_scale=10))


def _finish(ax, xlim, ylim):
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    ax.axis("off")


def network_positions(layer_sizes, spacing=1.0, layer_gap=2.5):
    """{(layer, i): (x, y)} for the nodes of a layered network, each layer centred at y = 0.

    Unit 0 of a layer is at the top, as in the notes' figures.
    """
    sizes = _check_layer_sizes(layer_sizes)
    pos = {}
    for layer, n in enumerate(sizes):
        ys = (np.arange(n)[::-1] - (n - 1) / 2) * spacing
        for i, y in enumerate(ys):
            pos[(layer, i)] = (layer * layer_gap, float(y))
    return pos


def draw_network(ax, layer_sizes, labels=None, highlight_edges=None, highlight_nodes=None,
                 edge_labels=None, layer_labels=None, bias=False, spacing=1.0, layer_gap=2.5,
                 radius=0.3, fontsize=10):
    """Draw a fully connected feed-forward network on ``ax``; return the node positions.

    layer_sizes      e.g. ``[4, 2, 1]``: inputs, hidden units, outputs
    labels           {(layer, i): text} for node labels (default: none)
    highlight_edges  iterable of ``((layer, i), (layer + 1, j))`` drawn in red, or a
                     {edge: color} dict; a bias edge starts at ``(layer, "bias")``
    highlight_nodes  iterable of ``(layer, i)`` outlined in red, or a {node: color} dict
                     (the color then fills the node)
    edge_labels      {edge: text} written near the middle of the edge
    layer_labels     one text per layer, written under its column (None to skip one)
    bias             draw a "+1" bias node under every layer but the last, wired to
                     every unit of the next layer (the notes' b as a weight on 1)

    Returns {(layer, i): (x, y)}, with ``(layer, "bias")`` for bias nodes, so that
    callers can add their own annotations.
    """
    sizes = _check_layer_sizes(layer_sizes)
    pos = network_positions(sizes, spacing, layer_gap)
    if bias:
        for layer in range(len(sizes) - 1):
            low = min(y for (lay, _), (_, y) in pos.items() if lay == layer)
            pos[(layer, "bias")] = (layer * layer_gap, low - spacing)
    labels = labels or {}
    edge_labels = edge_labels or {}
    edge_colors = _as_color_map(highlight_edges, HIGHLIGHT)
    node_colors = _as_color_map(highlight_nodes, HIGHLIGHT)
    for key in (*edge_labels, *edge_colors):
        _check_edge(key, pos)

    for layer in range(len(sizes) - 1):
        sources = [(layer, i) for i in range(sizes[layer])]
        if bias:
            sources.append((layer, "bias"))
        for src in sources:
            for j in range(sizes[layer + 1]):
                edge = (src, (layer + 1, j))
                color = edge_colors.get(edge, EDGE_COLOR)
                lw = 1.8 if edge in edge_colors else 0.8
                _edge_line(ax, pos[src], pos[edge[1]], radius, color, lw, zorder=2 if lw > 1 else 1)
                if edge in edge_labels:
                    _edge_text(ax, pos[src], pos[edge[1]], edge_labels[edge], color, fontsize - 1)

    for node, xy in pos.items():
        if node not in node_colors:
            fill, edge, lw = (BIAS_COLOR if node[1] == "bias" else NODE_COLOR), "k", 0.8
        elif isinstance(highlight_nodes, dict):
            fill, edge, lw = node_colors[node], "k", 0.8
        else:
            fill, edge, lw = NODE_COLOR, node_colors[node], 2.0
        text = labels.get(node, "$+1$" if node[1] == "bias" else "")
        _circle(ax, xy, radius, text, fill, edge, fontsize, lw)

    ys = [y for _, y in pos.values()]
    if layer_labels is not None:
        if len(layer_labels) != len(sizes):
            raise ValueError(f"layer_labels: expected {len(sizes)} entries, got {len(layer_labels)}")
        for layer, text in enumerate(layer_labels):
            if text:
                ax.text(layer * layer_gap, min(ys) - radius - 0.35 * spacing, text, ha="center",
                        va="top", fontsize=fontsize)
    bottom = min(ys) - radius - (1.2 * spacing if layer_labels is not None else 0.3)
    _finish(ax, (-radius - 0.9, (len(sizes) - 1) * layer_gap + radius + 0.9),
            (bottom, max(ys) + radius + 0.3))
    return pos


def _check_edge(edge, pos):
    try:
        (src, dst) = edge
    except (TypeError, ValueError):
        raise ValueError(f"edge {edge!r}: expected ((layer, i), (layer + 1, j))") from None
    if src not in pos or dst not in pos or dst[0] != src[0] + 1:
        raise ValueError(f"edge {edge!r}: no such edge between consecutive layers of this network")


def _edge_line(ax, start, end, radius, color, lw, zorder):
    (x0, y0), (x1, y1) = start, end
    d = np.hypot(x1 - x0, y1 - y0)
    ux, uy = (x1 - x0) / d, (y1 - y0) / d
    ax.plot([x0 + radius * ux, x1 - radius * ux], [y0 + radius * uy, y1 - radius * uy], color=color,
            lw=lw, zorder=zorder, solid_capstyle="round")


def _edge_text(ax, start, end, text, color, fontsize, at=0.35):
    """Write ``text`` a fraction ``at`` of the way along an edge, on a white patch."""
    x = start[0] + at * (end[0] - start[0])
    y = start[1] + at * (end[1] - start[1])
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, color=color, zorder=5,
            bbox=dict(boxstyle="round,pad=0.15", facecolor="white", edgecolor="none"))


def draw_neuron(ax, n_inputs=3, input_labels=None, weight_labels=None, bias_label="$b$",
                sum_label=r"$\Sigma$", activation_label=r"$\sigma$", output_label="$a$",
                z_label="$z$", fontsize=11):
    """Draw one neuron: inputs, weighted edges, a sum node with a bias, the unit and its output.

    n_inputs          how many inputs x_1 … x_n to draw
    input_labels      their labels (default ``$x_1$`` …, the last one ``$x_n$``)
    weight_labels     the edge labels (default ``$w_1$`` …, the last one ``$w_n$``)
    bias_label        text of the bias entering the sum (None: no bias drawn)
    activation_label  text in the unit's box, e.g. ``$\\sigma$`` or ``$f$``
    z_label, output_label  texts on the arrow into the unit and on the output arrow

    Returns {"inputs": [(x, y)...], "sum": (x, y), "unit": (x, y), "output": (x, y)}.
    """
    if int(n_inputs) != n_inputs or n_inputs < 1:
        raise ValueError(f"n_inputs: expected a positive integer, got {n_inputs!r}")
    n = int(n_inputs)
    default_idx = [str(i + 1) for i in range(n - 1)] + ["n" if n > 2 else str(n)]
    input_labels = input_labels or [f"$x_{{{i}}}$" for i in default_idx]
    weight_labels = weight_labels or [f"$w_{{{i}}}$" for i in default_idx]
    for name, seq in (("input_labels", input_labels), ("weight_labels", weight_labels)):
        if len(seq) != n:
            raise ValueError(f"{name}: expected {n} entries, got {len(seq)}")
    r = 0.32
    ys = (np.arange(n)[::-1] - (n - 1) / 2) * 1.0
    inputs = [(0.0, float(y)) for y in ys]
    sum_xy, unit_xy, out_xy = (2.6, 0.0), (4.3, 0.0), (5.9, 0.0)
    for xy, text, wtext in zip(inputs, input_labels, weight_labels):
        _circle(ax, xy, r, text, NODE_COLOR, "k", fontsize)
        _edge_line(ax, xy, sum_xy, r, EDGE_COLOR, 1.0, 1)
        _edge_text(ax, xy, sum_xy, wtext, "k", fontsize - 1, at=0.45)
    _circle(ax, sum_xy, r + 0.08, sum_label, NODE_COLOR, "k", fontsize + 1)
    if bias_label:
        bias_xy = (sum_xy[0], sum_xy[1] - 1.5)
        ax.text(*bias_xy, bias_label, ha="center", va="center", fontsize=fontsize,
                bbox=dict(boxstyle="round,pad=0.25", facecolor=BIAS_COLOR, edgecolor="k", lw=0.8))
        _arrow(ax, (bias_xy[0], bias_xy[1] + 0.25), (sum_xy[0], sum_xy[1] - r - 0.1), color="k")
    ax.add_patch(mpatches.FancyBboxPatch((unit_xy[0] - 0.4, unit_xy[1] - 0.4), 0.8, 0.8,
                                         boxstyle="round,pad=0.05", facecolor="#dbe9f6",
                                         edgecolor="k", lw=0.8, zorder=3))
    ax.text(*unit_xy, activation_label, ha="center", va="center", fontsize=fontsize + 2, zorder=4)
    _arrow(ax, (sum_xy[0] + r + 0.1, 0), (unit_xy[0] - 0.45, 0), color="k")
    ax.text((sum_xy[0] + unit_xy[0]) / 2 + 0.05, 0.18, z_label, ha="center", va="bottom",
            fontsize=fontsize)
    _arrow(ax, (unit_xy[0] + 0.45, 0), out_xy, color="k")
    ax.text(out_xy[0] + 0.1, 0, output_label, ha="left", va="center", fontsize=fontsize + 1)
    low = min(ys.min(), -1.5 if bias_label else 0) - 0.6
    _finish(ax, (-0.6, out_xy[0] + 0.8), (low, ys.max() + 0.6))
    return {"inputs": inputs, "sum": sum_xy, "unit": unit_xy, "output": out_xy}


def draw_pipeline(ax, stages, operations, fontsize=11, box_width=1.1, gap=1.6):
    """Draw a left-to-right chain of boxes ``stages`` joined by arrows labelled ``operations``.

    For the forward pass of §1.3: ``draw_pipeline(ax, ["$x$", "$z$", "$a$", "$s$"],
    ["$Wx + b$", r"$\\sigma(\\cdot)$", "$U^T a$"])``. ``operations`` has one entry
    fewer than ``stages``. Returns the centres of the boxes.
    """
    if len(operations) != len(stages) - 1:
        raise ValueError(f"operations: expected {len(stages) - 1} entries (one per arrow), "
                         f"got {len(operations)}")
    step = box_width + gap
    centres = [(k * step, 0.0) for k in range(len(stages))]
    for (x, y), text in zip(centres, stages):
        ax.add_patch(mpatches.FancyBboxPatch((x - box_width / 2, y - 0.35), box_width, 0.7,
                                             boxstyle="round,pad=0.05", facecolor="#dbe9f6",
                                             edgecolor="k", lw=0.8))
        ax.text(x, y, text, ha="center", va="center", fontsize=fontsize)
    for (x0, y0), (x1, _), text in zip(centres, centres[1:], operations):
        _arrow(ax, (x0 + box_width / 2 + 0.08, y0), (x1 - box_width / 2 - 0.08, y0), color="k")
        ax.text((x0 + x1) / 2, y0 + 0.45, text, ha="center", va="bottom", fontsize=fontsize - 1)
    _finish(ax, (-box_width, centres[-1][0] + box_width), (-0.6, 1.2))
    return centres
