"""nnlib: the reference numpy implementation of the course *Neural Networks and Backpropagation*.

One module per idea of the notes: activations, layers, losses, network, gradcheck,
init, optim, schedules, preprocessing, data, train. Only numpy is required;
``nnlib.plot`` and ``nnlib.widgets`` additionally use matplotlib and ipywidgets.
"""

from . import (
               activations,
               data,
               gradcheck,
               init,
               layers,
               losses,
               network,
               optim,
               preprocessing,
               schedules,
               train,
)

__all__ = ["activations", "data", "gradcheck", "init", "layers", "losses", "network",
           "optim", "preprocessing", "schedules", "train"]
__version__ = "0.1.0"
