"""Interactive demos that work live in Jupyter and on a static web page.

A demo is one plain drawing function plus its controls::

    Demo(draw_activation, unit=["sigmoid", "tanh", "relu"], k=[0.01, 0.1, 0.3])

``draw(**values)`` returns a matplotlib Figure for one setting of the controls.

* In a live kernel the demo displays as ipywidgets controls driving ``draw``.
* When the environment variable ``NNLIB_STATIC_DEMOS=1`` is set (the site build
  sets it), the demo instead renders every combination of control values once,
  at build time, and displays as self-contained HTML: one range slider per
  control and a few lines of script that swap the pre-rendered frame. No kernel,
  no network and no extra JavaScript library are needed to use it.
"""

import base64
import html
import io
import itertools
import json
import os
import uuid

STATIC_ENV = "NNLIB_STATIC_DEMOS"
MAX_FRAMES = 64
MAX_STATIC_BYTES = 1_400_000


def static_mode():
    return os.environ.get(STATIC_ENV) == "1"


class Demo:
    """Controls (name -> list of values) driving ``draw``; the first value is the default
    unless ``defaults`` names another one."""

    def __init__(self, draw, title="", dpi=64, defaults=None, **controls):
        if not controls:
            raise ValueError("Demo: give at least one control, e.g. lr=[0.01, 0.1, 1.0]")
        for name, values in controls.items():
            if len(values) < 2:
                raise ValueError(f"Demo control {name!r}: expected at least two values, got {values!r}")
        n_frames = 1
        for values in controls.values():
            n_frames *= len(values)
        if n_frames > MAX_FRAMES:
            raise ValueError(f"Demo: {n_frames} combinations of control values exceed the "
                             f"static-site budget of {MAX_FRAMES}; use fewer values")
        self.draw, self.title, self.dpi = draw, title, dpi
        self.controls = {name: list(values) for name, values in controls.items()}
        self.defaults = {name: values[0] for name, values in self.controls.items()}
        for name, value in (defaults or {}).items():
            if value not in self.controls.get(name, []):
                raise ValueError(f"Demo default {name}={value!r} is not one of its control values")
            self.defaults[name] = value

    # -- static page ------------------------------------------------------------------
    def frames(self):
        """{key: PNG bytes} for every combination; key is 'i,j,...' of value indices."""
        import matplotlib.pyplot as plt

        names = list(self.controls)
        out = {}
        for indices in itertools.product(*(range(len(self.controls[n])) for n in names)):
            values = {n: self.controls[n][i] for n, i in zip(names, indices)}
            fig = self.draw(**values)
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=self.dpi, metadata={"Software": None})
            plt.close(fig)
            out[",".join(map(str, indices))] = buf.getvalue()
        return out

    def static_html(self):
        frames = self.frames()
        size = sum(len(b) for b in frames.values())
        if size > MAX_STATIC_BYTES:
            raise ValueError(f"Demo {self.title!r}: {size} bytes of frames exceed the page budget "
                             f"of {MAX_STATIC_BYTES}; lower dpi or use fewer values")
        uris = {k: "data:image/png;base64," + base64.b64encode(v).decode() for k, v in frames.items()}
        # The id only has to be unique within a page; derive it from the content so the
        # same demo renders to the same bytes on every build.
        demo_id = "nn-demo-" + uuid.uuid5(uuid.NAMESPACE_OID, self.title + json.dumps(
            {k: [repr(v) for v in vs] for k, vs in self.controls.items()})).hex[:12]
        rows = []
        for name, values in self.controls.items():
            default = values.index(self.defaults[name])
            labels = json.dumps([_label(v) for v in values])
            rows.append(
                f'<label class="nn-demo-control">{html.escape(name)} '
                f'<input type="range" min="0" max="{len(values) - 1}" step="1" value="{default}" '
                f'data-control="{html.escape(name)}" data-labels=\'{html.escape(labels)}\' '
                f'aria-label="{html.escape(name)}">'
                f'<output>{html.escape(_label(self.defaults[name]))}</output></label>')
        default_key = ",".join(str(vs.index(self.defaults[n])) for n, vs in self.controls.items())
        title = f"<strong>{html.escape(self.title)}</strong>" if self.title else ""
        return (
            f'<div class="nn-demo" id="{demo_id}">{title}'
            f'<div class="nn-demo-controls">{"".join(rows)}</div>'
            f'<img class="nn-demo-frame" alt="{html.escape(self.title or "demo")}" '
            f'src="{uris[default_key]}">'
            f'<script type="application/json" class="nn-demo-frames">{json.dumps(uris)}</script>'
            f"<script>{_SWITCHER_JS.replace('DEMO_ID', demo_id)}</script></div>"
        )

    # -- live kernel ------------------------------------------------------------------
    def widget(self):
        import ipywidgets as w
        import matplotlib.pyplot as plt
        from IPython.display import display

        sliders = {}
        for name, values in self.controls.items():
            options = [(_label(v), v) for v in values]
            sliders[name] = w.SelectionSlider(options=options, value=self.defaults[name],
                                              description=name, continuous_update=False)
        out = w.Output()

        def redraw(**values):
            with out:
                out.clear_output(wait=True)
                fig = self.draw(**values)
                display(fig)
                plt.close(fig)

        w.interactive_output(redraw, sliders)
        header = [w.HTML(f"<b>{html.escape(self.title)}</b>")] if self.title else []
        return w.VBox([*header, w.HBox(list(sliders.values())), out])

    def _repr_mimebundle_(self, include=None, exclude=None):
        if static_mode():
            return {"text/html": self.static_html(), "text/plain": f"<Demo {self.title}>"}
        return self.widget()._repr_mimebundle_(include=include, exclude=exclude)


def _label(value):
    return f"{value:g}" if isinstance(value, float) else str(value)


_SWITCHER_JS = """(function () {
  var root = document.getElementById("DEMO_ID");
  var frames = JSON.parse(root.querySelector(".nn-demo-frames").textContent);
  var img = root.querySelector(".nn-demo-frame");
  var inputs = root.querySelectorAll("input[data-control]");
  function update() {
    var key = [];
    inputs.forEach(function (input) {
      var labels = JSON.parse(input.dataset.labels);
      input.nextElementSibling.textContent = labels[input.value];
      key.push(input.value);
    });
    img.src = frames[key.join(",")];
  }
  inputs.forEach(function (input) { input.addEventListener("input", update); });
})();"""
