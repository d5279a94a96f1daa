"""Figures and demo drawing functions (matplotlib). One module per topic.

Only this package and :mod:`nnlib.widgets` import matplotlib or ipywidgets; the
rest of nnlib needs numpy alone. Every function here returns a matplotlib
Figure (or draws on a given Axes) and never calls ``plt.show``.
"""
