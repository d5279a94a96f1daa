"""Run the solution notebooks and store their outputs, reproducibly.

Stored outputs are what nbval compares against, so anything that changes from
run to run is removed after execution: widget model ids (a live widget is
meaningless in a file anyway) and execution timing metadata.
"""

import os

from nbclient import NotebookClient

from . import chapter_slugs, notebook_path, notebooks

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def kernel_env():
    """Environment of every kernel the tooling starts: one BLAS thread, no GUI backend."""
    env = dict(os.environ)
    env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               MPLBACKEND="module://matplotlib_inline.backend_inline", PYTHONHASHSEED="0")
    return env


def sanitize(nb):
    """Drop what differs between identical runs: widget views and timing metadata.

    Consecutive writes to one stream are merged: a loaded kernel may flush a single
    print as two outputs ("text", then "\\n"), which would differ from run to run.
    """
    nb.metadata.pop("widgets", None)
    nb.metadata.get("language_info", {}).pop("version", None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type != "code":
            continue
        kept = []
        for out in cell.outputs:
            data = out.get("data")
            if data is not None and WIDGET_VIEW in data:
                del data[WIDGET_VIEW]
                if not data:
                    continue
            previous = kept[-1] if kept else None
            if (out.get("output_type") == "stream" and previous is not None
                    and previous.get("output_type") == "stream" and previous.name == out.name):
                previous.text += out.text
                continue
            kept.append(out)
        cell.outputs = kept
    return nb


def run(slug, timeout=600):
    path = notebook_path(slug)
    nb = notebooks.read(path)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    env = kernel_env()
    client.execute(env=env)
    notebooks.write(sanitize(nb), path)


def run_all(slugs=None):
    for slug in slugs or chapter_slugs():
        print(f"executing solutions/{slug}", flush=True)
        run(slug)
