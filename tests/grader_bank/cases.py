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


# The helper cell the security tests add to the synthetic chapter's source (a release's constant).
HELPER = "HALF = 0.5\n"
REF = "/opt/coursetools-lib/nnlib/activations.py"  # where the kernel's jail holds the reference


@dataclass(frozen=True)
class Case:
    student: str
    expect: str
    answer: str = None          # the sigmoid answer cell, or None for a file-level fault
    files: tuple = ()           # (name, text) written instead of the notebook
    drop_tests: bool = False
    before: str = None          # a cell of the student's own, just before the sigmoid answer cell
    after: str = None           # a cell of the student's own, just after it
    reason: str = None          # what the manual-grading reason must say (the route)


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
    # The fork server the kernel was forked from is its parent, and root: out of reach.
    Case("reach-fork-server", "zero", _probe(
        "import os, signal\nserver = os.getppid()\n"
        "for attempt in (lambda: os.kill(server, signal.SIGSTOP),\n"
        "                lambda: open(f'/proc/{server}/mem', 'rb'), lambda: os.setuid(0)):\n"
        "    try:\n        attempt()\n        print('FORK SERVER REACHED')\n"
        "    except OSError as e:\n        print('server untouched:', type(e).__name__)")),
    # A child left behind that, once its own submission is done, kills whatever its uid may signal:
    # the next submissions of the same worker must not meet it (the jail's cleanup kills it first).
    Case("lurker", "capped", _probe(
        "import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(2)\n    for _ in range(300):\n"
        "        try:\n            os.kill(-1, 9)\n        except OSError:\n            pass\n"
        "        time.sleep(0.1)\n    os._exit(0)")),
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
    # ---- implementation integrity: routes to the reference (the answers forbid nnlib) ----
    Case("ref-module-alias", "manual", "def sigmoid(z):\n    return activations.sigmoid(z)\n",
         reason="reads 'activations', which no answer cell defines"),
    Case("ref-global-other-cell", "manual", "def sigmoid(z):\n    return _ref(z)\n",
         before="from nnlib.activations import sigmoid as _ref\n", reason="reads '_ref'"),
    Case("ref-alias-other-cell", "manual", "def sigmoid(z):\n    return a.sigmoid(z)\n",
         before="from nnlib import activations as a\n", reason="reads 'a', which no answer cell"),
    Case("ref-replaced-after", "manual", RIGHT, after="from nnlib.activations import sigmoid\n",
         reason="sigmoid was rebound or patched after its answer cell"),
    Case("ref-globals-rebind", "manual", RIGHT, after="globals()['sig' + 'moid'] = activations.sigmoid\n",
         reason="sigmoid was rebound or patched after its answer cell"),
    Case("ref-code-patch", "manual", RIGHT,
         after="sigmoid.__code__ = (lambda z: activations.sigmoid(z)).__code__\n",
         reason="sigmoid was rebound or patched after its answer cell"),
    Case("ref-sys-modules", "manual",
         "import sys\n\n\ndef sigmoid(z):\n    return sys.modules['nnlib.activations'].sigmoid(z)\n",
         reason="uses nnlib.activations.sigmoid"),
    Case("ref-importlib-in-body", "manual",
         "def sigmoid(z):\n    import importlib\n\n"
         "    return importlib.import_module('nnlib.' + 'activations').sigmoid(z)\n",
         reason="nnlib.activations"),
    Case("ref-dunder-import-in-body", "manual",
         "def sigmoid(z):\n    return __import__('nnlib.activations', fromlist=['x']).sigmoid(z)\n",
         reason="nnlib.activations"),
    Case("ref-getattr-builtins", "manual",
         "import builtins\n\n\ndef sigmoid(z):\n"
         "    load = getattr(builtins, '__imp' + 'ort__')\n"
         "    return getattr(load('nnl' + 'ib.activations', fromlist=['x']), 'sigm' + 'oid')(z)\n",
         reason="nnlib.activations"),
    Case("ref-import-after-magic", "manual", "%matplotlib inline\nfrom nnlib.activations import sigmoid\n",
         reason="nnlib.activations"),
    Case("ref-nnlib-object", "manual", "def sigmoid(z):\n    return _unit.f(z)\n",
         before="_unit = activations.lookup('sigmoid')\n", reason="reads '_unit'"),
    Case("ref-nnlib-model", "manual", "def sigmoid(z):\n    return _net.units[0].f(z)\n",
         before="_net = network.MLP([1, 1, 1], activation='sigmoid')\n", reason="built by nnlib"),
    Case("ref-source-exec-in-answer", "manual",
         "_ns = {}\nexec(open(" + repr(REF) + ").read().replace('from .', 'from nnlib.'), _ns)\n"
         "sigmoid = _ns['sigmoid']\n", reason="a file of the reference library"),
    Case("ref-source-exec-from-cell", "manual",
         "_ns = {}\nexec(_SRC, _ns)\nsigmoid = _ns['sigmoid']\n",
         before="_SRC = open(" + repr(REF) + ").read().replace('from .', 'from nnlib.')\n",
         reason="runs as code a text"),
    Case("ref-pickle-from-cell", "manual",
         "import pickle\n\n\ndef sigmoid(z):\n    return pickle.loads(_P)(z)\n",
         before="import pickle\n_P = pickle.dumps(activations.sigmoid)\n", reason="reads '_P'"),
    # A copy of the reference left as a module in the kernel's folder: the room has a folder of its own.
    Case("ref-file-drop-import", "zero",
         "import sys\nsys.path.insert(0, '.')\n\n\ndef sigmoid(z):\n    import ref_copy\n\n"
         "    return ref_copy.sigmoid(z)\n",
         before="open('ref_copy.py', 'w').write(\n"
                "    open(" + repr(REF) + ").read().replace('from .', 'from nnlib.'))\n"),
    Case("ref-gc-walk", "zero",
         "import gc\n\n\ndef sigmoid(z):\n"
         "    found = [o for o in gc.get_objects()\n"
         "             if callable(o) and getattr(o, '__name__', '') == 'sigmoid'\n"
         "             and 'nnlib' in str(getattr(o, '__module__', ''))]\n"
         "    return found[0](z)\n"),
    Case("ref-subclasses-walk", "zero",
         "def sigmoid(z):\n"
         "    for cls in object.__subclasses__():\n"
         "        if 'nnlib' in str(getattr(cls, '__module__', '')):\n"
         "            return cls\n"
         "    raise LookupError('no reference here')\n"),
    # ---- implementation integrity: honest variants keep full marks ----
    Case("own-helper-in-answer", "full",
         "import numpy as np\n\n\ndef _logistic(t):\n    return 1.0 / (1.0 + np.exp(-t))\n\n\n"
         "def sigmoid(z):\n    return _logistic(z)\n"),
    Case("own-numpy-alias", "full",
         "import numpy as xp\n\n\ndef sigmoid(z):\n    return 1.0 / (1.0 + xp.exp(-z))\n"),
    Case("own-release-constant", "full", "def sigmoid(z):\n    return HALF * (1 + np.tanh(HALF * z))\n"),
    Case("own-data-from-own-cell", "full", "def sigmoid(z):\n    return _ONE / (_ONE + np.exp(-z))\n",
         before="_ONE = 1.0\n"),
    Case("own-magic-and-demo", "full", "%matplotlib inline\n" + RIGHT + "print(sigmoid(z_demo))\n",
         before="z_demo = np.linspace(-1, 1, 3)\n"),
    Case("own-redefined-before", "full", RIGHT,
         before="def sigmoid(z):\n    return activations.sigmoid(z)\n"),
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
        if case.before or case.after:
            _add_cells(path, case.before, case.after)
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


def _add_cells(path, before, after):
    """The student's own cells around the sigmoid answer cell."""
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == SIGMOID)
    if after:
        nb.cells.insert(at + 1, nbformat.v4.new_code_cell(after))
    if before:
        nb.cells.insert(at, nbformat.v4.new_code_cell(before))
    nbformat.write(nb, str(path))
