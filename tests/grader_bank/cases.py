"""Exploit and fault submissions for ``tests/test_grader_security.py``, on the synthetic chapter.

Each case files one student into a :class:`coursetools.course.Course` and says what the grader
must make of it: ``full`` (all points), ``zero`` (no points, graded), ``manual`` (needs manual
grading, no points) or ``capped`` (whatever it earns, at most the honest score, run unharmed).
"""

import json
from dataclasses import dataclass

CHAPTER = "00-synthetic"
SIGMOID = "00-synthetic-sigmoid"
RIGHT = "def sigmoid(z):\n    return 1.0 / (1.0 + np.exp(-z))\n"
WRONG = "def sigmoid(z):\n    return 1.0 / (2.0 + np.exp(-z))\n"
GRAD = ("00-synthetic-sigmoid_grad", "def sigmoid_grad(z):\n    s = sigmoid(z)\n    return s * (1 - s)\n")


@dataclass(frozen=True)
class Case:
    student: str
    expect: str
    answer: str = None          # the sigmoid answer cell, or None for a file-level fault
    files: tuple = ()           # (name, text) written instead of the notebook
    drop_tests: bool = False


def _probe(body):
    """An answer cell that does ``body`` (hostile) and then defines the wrong sigmoid."""
    return "import numpy as np\n" + body + "\n" + WRONG


CASES = [
    Case("reference", "full", RIGHT),
    Case("zoë-ünïcode-名前", "full", RIGHT),
    Case("wrong", "zero", WRONG),
    Case("patch-allclose", "zero", _probe("np.allclose = lambda *a, **k: True\n"
                                          "np.testing.assert_allclose = lambda *a, **k: None")),
    Case("patch-abs", "zero", _probe("import builtins\nbuiltins.abs = lambda x: 0 * x\n"
                                     "builtins.any = lambda x: False")),
    Case("input-transformer", "zero", _probe(
        "def _swallow(lines):\n"
        "    return ['try:\\n'] + ['    ' + l for l in lines] + ['\\nexcept BaseException:\\n    pass\\n']\n"
        "get_ipython().input_transformers_post.append(_swallow)")),
    Case("read-source", "zero", _probe(
        "import glob\nfor p in glob.glob('/tmp/**/*.ipynb', recursive=True) + glob.glob('/work/**/*.ipynb', "
        "recursive=True) + glob.glob('../**/gradebook.db', recursive=True):\n    print(p)\n"
        "    try:\n        print(open(p, errors='replace').read())\n"
        "    except OSError as e:\n        print(e)")),
    Case("sql-inflate", "zero", _probe(
        "import glob, sqlite3\nfor p in glob.glob('/tmp/**/gradebook.db', recursive=True)"
        " + ['../../../gradebook.db']:\n"
        "    try:\n        db = sqlite3.connect(p)\n"
        "        db.execute('UPDATE grade SET extra_credit=1000').connection.commit()\n"
        "    except Exception as e:\n        print(e)")),
    Case("delete-gradebook", "zero", _probe(
        "import glob, os\nfor p in glob.glob('/tmp/**/gradebook.db', recursive=True)"
        " + ['../../../gradebook.db']:\n"
        "    try:\n        os.remove(p)\n    except OSError as e:\n        print(e)")),
    Case("kill-parent", "capped", _probe("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n"
                                         "os.kill(1, signal.SIGKILL)")),
    Case("kill-self", "manual", _probe("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")),
    Case("fork-bomb", "capped", _probe(
        "import os\npids = []\nfor _ in range(5000):\n    try:\n        pid = os.fork()\n"
        "    except OSError as e:\n        print('fork refused:', e)\n        break\n"
        "    if pid == 0:\n        import time\n        time.sleep(30)\n        os._exit(0)\n"
        "    pids.append(pid)")),
    Case("fill-disk", "zero", _probe(
        "chunk = b'x' * (1 << 20)\ntry:\n    with open('filler', 'wb') as f:\n        for _ in range(4096):\n"
        "            f.write(chunk)\nexcept OSError as e:\n    print('disk refused:', e)")),
    Case("network", "zero", _probe(
        "import socket\ntry:\n    socket.create_connection(('1.1.1.1', 80), timeout=2)\n"
        "    print('CONNECTED')\n"
        "except OSError as e:\n    print('no network:', e)")),
    Case("huge-line", "zero", _probe("print('A' * 50_000_000)")),
    Case("huge-image", "zero", _probe(
        "import os\nfrom IPython.display import Image, display\n"
        "display(Image(data=b'\\x89PNG\\r\\n\\x1a\\n' + os.urandom(5_000_000), format='png'))")),
    Case("loop-after-def", "manual", RIGHT + "\nwhile True:\n    pass\n"),
    Case("deleted-tests", "zero", WRONG, drop_tests=True),
    Case("deleted-tests-right", "full", RIGHT, drop_tests=True),
    Case("imports-nnlib", "manual", "from nnlib.activations import sigmoid\n"),
    Case("importlib-nnlib", "manual",
         "import importlib\n_a = importlib.import_module('nn' + 'lib.activations')\nsigmoid = _a.sigmoid\n"),
    Case("dunder-import", "manual", "sigmoid = __import__('nnlib.activations', fromlist=['x']).sigmoid\n"),
    Case("nbformat3", "manual", files=(("00-synthetic.ipynb", json.dumps(
        {"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": [{"cells": []}]})),)),
    Case("invalid-json", "manual", files=(("00-synthetic.ipynb", '{"cells": [ oops'),)),
    Case("missing", "manual", files=(("notes.txt", "I forgot the notebook"),)),
    Case("renamed", "manual", files=(("00-synthetic (1).ipynb", "{}"),)),
    Case("extra", "manual", RIGHT, files=(("scratch.ipynb", "{}"),)),
]


def submit(course, case):
    """File ``case``'s submission into ``course``."""
    folder = course.root / "submitted" / case.student / CHAPTER
    if case.answer is not None:
        path = course.submit(case.student, CHAPTER, {SIGMOID: case.answer, GRAD[0]: GRAD[1]})
        if case.drop_tests:
            nb = json.loads(path.read_text(encoding="utf-8"))
            nb["cells"] = [c for c in nb["cells"] if not c["metadata"].get("nbgrader", {}).get("grade")]
            path.write_text(json.dumps(nb), encoding="utf-8")
    else:
        with course.gradebook() as gb:
            gb.update_or_create_student(case.student)
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in case.files:
        (folder / name).write_text(text, encoding="utf-8")
