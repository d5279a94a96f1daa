"""nnlib.widgets.Demo: pre-rendered static HTML for the site, ipywidgets in a live kernel."""

import json
import re

import matplotlib.pyplot as plt
import numpy as np
import pytest

from nnlib import widgets
from nnlib.widgets import Demo


def draw_line(slope, colour="k"):
    fig, ax = plt.subplots(figsize=(2, 1.5))
    x = np.linspace(-1, 1, 5)
    ax.plot(x, slope * x, color=colour)
    ax.set_ylim(-3, 3)
    return fig


def draw_ignoring_colour(slope, colour):
    return draw_line(slope)


def embedded_frames(page):
    match = re.search(r'<script type="application/json" class="nn-demo-frames">(.*?)</script>', page)
    assert match, "no frame table in the page"
    return json.loads(match.group(1))


@pytest.fixture(scope="module")
def demo():
    return Demo(draw_line, title="Slope <demo>", dpi=30, slope=[0.5, 1.0, 2.0], colour=["k", "r"])


@pytest.fixture(scope="module")
def page(demo):
    return demo.static_html()


def test_one_frame_per_combination(demo, page):
    frames = embedded_frames(page)
    assert sorted(frames) == sorted(f"{i},{j}" for i in range(3) for j in range(2))
    assert all(uri.startswith("data:image/png;base64,") for uri in frames.values())
    # the visible image is the default frame
    assert f'src="{frames["0,0"]}"' in page


def test_sliders_labels_and_script(page):
    sliders = re.findall(r'<input type="range"[^>]*>', page)
    assert len(sliders) == 2
    assert 'max="2"' in sliders[0] and 'data-control="slope"' in sliders[0]
    assert 'max="1"' in sliders[1] and 'data-control="colour"' in sliders[1]
    assert "<output>0.5</output>" in page
    assert "addEventListener" in page and page.count("<script>") == 1
    assert "Slope &lt;demo&gt;" in page  # the title is escaped
    demo_id = re.search(r'<div class="nn-demo" id="([^"]+)"', page).group(1)
    assert f'document.getElementById("{demo_id}")' in page


def test_static_html_is_reproducible(demo, page):
    assert demo.static_html() == page


def test_frames_differ_only_where_the_drawing_depends_on_the_value(page):
    frames = embedded_frames(page)
    assert frames["0,0"] != frames["2,0"]  # another slope
    assert frames["1,0"] != frames["1,1"]  # another colour
    ignoring = embedded_frames(Demo(draw_ignoring_colour, dpi=30, slope=[0.5, 2.0],
                                    colour=["k", "r"]).static_html())
    assert ignoring["0,0"] == ignoring["0,1"]
    assert ignoring["0,0"] != ignoring["1,0"]


def test_defaults_choose_the_first_frame_shown():
    page = Demo(draw_line, dpi=30, defaults={"slope": 2.0}, slope=[0.5, 2.0]).static_html()
    frames = embedded_frames(page)
    assert f'src="{frames["1"]}"' in page and 'value="1"' in page


def test_frame_budget():
    with pytest.raises(ValueError, match="72 combinations.*budget of 64"):
        Demo(draw_line, slope=list(range(9)), colour=list("rgbcmykw"))


def test_byte_budget(monkeypatch):
    monkeypatch.setattr(widgets, "MAX_STATIC_BYTES", 1000)
    with pytest.raises(ValueError, match="bytes of frames exceed the page budget of 1000"):
        Demo(draw_line, dpi=30, slope=[1.0, 2.0]).static_html()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({}, "at least one control"),
    ({"slope": [1.0]}, "at least two values"),
    ({"slope": [1.0, 2.0], "defaults": {"slope": 3.0}}, "not one of its control values"),
])
def test_control_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Demo(draw_line, **kwargs)


def test_static_mode_switches_the_representation(monkeypatch):
    demo = Demo(draw_line, title="t", dpi=30, slope=[1.0, 2.0])
    monkeypatch.setenv(widgets.STATIC_ENV, "1")
    bundle = demo._repr_mimebundle_()
    assert bundle["text/plain"] == "<Demo t>"
    assert bundle["text/html"].startswith('<div class="nn-demo"')


def test_widget_is_a_vbox_whose_output_shows_the_figure(monkeypatch):
    import IPython.display
    import ipywidgets
    from matplotlib.figure import Figure

    open_before = plt.get_fignums()
    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj: shown.append(obj))
    drawn = []

    def draw(slope, colour):
        drawn.append((slope, colour))
        return draw_line(slope, colour)

    box = Demo(draw, title="Live", slope=[0.5, 1.0], colour=["k", "r"],
               defaults={"colour": "r"}).widget()
    assert isinstance(box, ipywidgets.VBox)
    header, controls, output = box.children
    assert isinstance(header, ipywidgets.HTML) and "Live" in header.value
    assert isinstance(output, ipywidgets.Output)
    sliders = controls.children
    assert [s.description for s in sliders] == ["slope", "colour"]
    assert all(isinstance(s, ipywidgets.SelectionSlider) for s in sliders)
    # The output is filled once at creation with the defaults, then on every change.
    assert drawn == [(0.5, "r")]
    assert len(shown) == 1 and isinstance(shown[0], Figure)
    assert shown[0].axes[0].lines[0].get_ydata()[-1] == pytest.approx(0.5)
    sliders[0].value = 1.0
    assert drawn[-1] == (1.0, "r") and len(shown) == 2
    assert shown[1].axes[0].lines[0].get_ydata()[-1] == pytest.approx(1.0)
    assert plt.get_fignums() == open_before  # every figure was closed after display
