"""The clean room's protocol and route naming, without a kernel, a jail or root (a plain subprocess).

Unjailed, nnlib's files exist, so these tests check what the room itself does: refuse and name
every import of the reference, serve data from the "kernel" (a dict here) and never code, carry
callbacks and in-place writes. That the files are absent in the jail is tests/test_grader_security.py.
"""

import json

import numpy as np
import pytest
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from coursetools import cleanroom, judge, sandbox, wire

KERNEL = {"X_data": np.arange(3.0), "activations": "module", "helper_fn": "function"}


def fetch(name):
    if name not in KERNEL:
        return {"missing": True}
    if isinstance(KERNEL[name], str):
        return {"not_data": f"a {KERNEL[name]} from another cell"}
    return {"ok": wire.Wire().encode(KERNEL[name])}


@pytest.fixture
def room(tmp_path):
    r = cleanroom.CleanRoom(tmp_path, sandbox.NoJail(), fetch, timeout=20)
    yield r
    r.close()


def call(room, name, *args, callables=None):
    callables = [] if callables is None else callables
    caller = judge.Wire(callables=callables)
    request = json.dumps(caller.encode([list(args), {}]))
    link = judge.Link(None)
    reply = room.call(name, request,
                      lambda prompt: judge.answer_callback(prompt, callables, link, caller))
    result, exc = caller.settle(reply, RuntimeError, name)
    return result, exc, reply["routes"]


def load(room, code, helper=False, imports=None):
    cells = [{"label": "a", "code": code, "helper": helper}]
    return room.load(cells, imports or {"np": "import numpy as np"})


def test_honest_answers_run_with_the_release_imports_helpers_and_data(room):
    load(room, "SCALE = 2.0\n\ndef _double(v):\n    return SCALE * v\n", helper=True)
    assert load(room, "%matplotlib inline\ndef f(z):\n    return _double(np.asarray(z)) + X_data\n"
                      "def g(z):\n    return f(z) - 1\nprint(g(0))\n") == []
    result, exc, routes = call(room, "g", np.zeros(3))
    assert exc is None and routes == [] and result.tolist() == [-1.0, 0.0, 1.0]


def test_in_place_writes_and_callbacks_cross(room):
    load(room, "def grad(f, x):\n    out = np.zeros_like(x)\n    for i in range(x.size):\n"
               "        x[i] += 1e-5\n        p = f(x)\n        x[i] -= 2e-5\n        m = f(x)\n"
               "        x[i] += 1e-5\n        out[i] = (p - m) / 2e-5\n    x[0] = 42.0\n    return out\n")
    x = np.array([1.0, 2.0])
    result, exc, routes = call(room, "grad", lambda v: float(np.sum(v ** 2)), x)
    assert exc is None and routes == [] and np.allclose(result, [2.0, 4.0]) and x[0] == 42.0


@pytest.mark.parametrize("body, route", [
    ("import nnlib.activations as a\n    return a.sigmoid(z)", "nnlib.activations"),
    ("return __import__('nnlib.activations', fromlist=['x']).sigmoid(z)", "nnlib.activations"),
    ("import importlib\n    return importlib.import_module('autograd.numpy').exp(z)", "autograd.numpy"),
    ("import sys\n    return sys.modules['nnlib.activations'].sigmoid(z)", "uses nnlib.activations.sigmoid"),
    ("return activations.sigmoid(z)", "reads 'activations', which no answer cell defines"),
    ("return helper_fn(z)", "reads 'helper_fn'"),
    ("import coursetools\n    return z", "imports coursetools"),
])
def test_routes_are_refused_and_named(room, body, route):
    load(room, f"def f(z):\n    {body}\n")
    _, _, routes = call(room, "f", 1.0)
    assert any(route in r for r in routes), routes


def test_a_route_in_the_answer_cell_itself_is_named_at_load(room):
    routes = load(room, "from nnlib.activations import sigmoid\n")
    assert any("the answer cell: uses nnlib.activations.sigmoid" in r for r in routes), routes
    _, exc, _ = call(room, "sigmoid", 1.0)
    assert isinstance(exc, KeyError)  # never defined here


def test_a_missing_name_is_an_ordinary_failure(room):
    load(room, "def f(z):\n    return not_defined_anywhere + z\n")
    _, exc, routes = call(room, "f", 1.0)
    assert isinstance(exc, NameError) and routes == []


def test_helpers_never_report_routes(room):
    assert load(room, "import nnlib\n", helper=True) == []


def test_a_hanging_call_times_out_and_a_dead_room_is_named(tmp_path):
    r = cleanroom.CleanRoom(tmp_path, sandbox.NoJail(), fetch, timeout=2)
    try:
        load(r, "def spin(z):\n    while True:\n        pass\n")
        with pytest.raises(CellTimeoutError):
            call(r, "spin", 1)
    finally:
        r.close()
    r = cleanroom.CleanRoom(tmp_path, sandbox.NoJail(), fetch, timeout=20)
    try:
        load(r, "import os\ndef die(z):\n    os._exit(3)\n")
        with pytest.raises(DeadKernelError, match="clean room"):
            call(r, "die", 1)
    finally:
        r.close()


def test_room_plan_takes_the_release_helpers_that_do_not_touch_the_reference():
    import nbformat

    v4 = nbformat.v4
    answer = v4.new_code_cell("# nnlib: forbidden\ndef f(z):\n    return twice(z) * K\n")
    answer.metadata["nbgrader"] = {"grade_id": "ch-f", "solution": True, "grade": False}
    test = v4.new_code_cell("assert f(1) == 4")
    test.metadata["nbgrader"] = {"grade_id": "f-test", "solution": False, "grade": True, "points": 1}
    nb = v4.new_notebook(cells=[
        v4.new_code_cell("import numpy as np\nfrom nnlib import activations\nimport math"),
        v4.new_code_cell("def twice(v):\n    return 2 * v\n\n\nprint(activations.sigmoid(twice(1.0)))"),
        v4.new_code_cell("K = 2\nunused = 3"),
        v4.new_code_cell("def cheat(v):\n    return activations.sigmoid(v)\nK2 = cheat(1)"),
        answer, test])
    plan = judge.room_plan(nb)
    assert plan.answers == {"ch-f": (4, ["f"])}
    assert [i for i, _ in plan.helpers] == [1, 2]
    assert "print" not in plan.helpers[0][1] and "activations" not in plan.helpers[0][1]
    assert set(plan.imports) == {"np", "math"}
    assert judge.room_plan(v4.new_notebook(cells=nb.cells[:4])) == judge.RoomPlan()
