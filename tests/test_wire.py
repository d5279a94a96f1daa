"""coursetools.wire on its own: no kernel, no sandbox, no root; each test runs in milliseconds.

Every exchange is simulated as the grader and a kernel (or the clean room) run it: the caller
encodes, the text crosses as JSON, the callee decodes and runs, the reply crosses back, and the
caller settles it.
"""

import json

import numpy as np
import pytest

from coursetools import wire
from nnlib import data, network


def exchange(function, *args, namespace=None, **kwargs):
    """Call ``function`` as if it lived on the other side; return the caller's (result, exception)."""
    callables = []
    caller = wire.Wire(callables=callables)
    request = json.dumps(caller.encode([list(args), kwargs]))
    namespace = dict(namespace or {}, target=function)

    def ask(prompt):  # the caller's side of a callback
        req = json.loads(prompt[len(wire.PROMPT):])
        inner = wire.Wire(callables=callables)
        a, k = inner.decode(req["args"])
        caller.restore(req["outer"])
        reply = inner.run(callables[req["callback"]], list(a), dict(k))
        reply["outer"] = caller.snapshot(len(caller.table))
        return json.dumps(reply)

    reply = json.loads(wire.serve(namespace, "target", request, ask))
    return caller.settle(reply, RuntimeError, "target")


def round_trip(value):
    return wire.Wire().decode(json.loads(json.dumps(wire.Wire().encode(value))))


@pytest.mark.parametrize("value", [None, True, 3, -2.5, "σ", [1, [2, 3]], (1, (2.0, "x")),
                                   {"a": [1, {"b": 2}]}, float("inf")])
def test_plain_values_round_trip(value):
    assert round_trip(value) == value and type(round_trip(value)) is type(value)


@pytest.mark.parametrize("dtype", ["float64", "float32", "int64", "int8", "uint16", "bool"])
def test_arrays_and_scalars_round_trip(dtype):
    a = (np.arange(12).reshape(3, 4) % 3).astype(dtype)
    back = round_trip(a)
    assert back.dtype == a.dtype and back.shape == a.shape and np.array_equal(back, a)
    s = round_trip(a[0, 1])
    assert s == a[0, 1]
    if dtype != "float64":  # np.float64 is a Python float, and travels as one
        assert isinstance(s, np.generic) and s.dtype == a.dtype


def test_generator_round_trips_by_state():
    rng = np.random.default_rng(5)
    rng.random(3)
    back = round_trip(rng)
    assert back is not rng and np.array_equal(back.random(4), rng.random(4))


def test_nnlib_models_round_trip_through_their_config():
    mlp = network.MLP([3, 4, 2], activation=["tanh"], seed=1)
    back = round_trip(mlp)
    X = np.random.default_rng(0).normal(size=(5, 3))
    assert isinstance(back, network.MLP) and np.allclose(back.forward(X), mlp.forward(X))
    ws = network.WindowScorer(20, dim=3, window=3, hidden=4, seed=2)
    windows = np.array([[1, 2, 3], [4, 5, 6]])
    assert np.allclose(round_trip(ws).forward(windows), ws.forward(windows))
    ner = data.NERWindows(np.zeros((2, 3), int), np.array([0, 1]), {"<pad>": 0, "<unk>": 1}, [["a"]])
    back = round_trip(ner)
    assert isinstance(back, data.NERWindows) and back.vocab == ner.vocab
    assert np.array_equal(back.labels, ner.labels)


def test_in_place_writes_come_back():
    x = np.zeros(3)
    rng = np.random.default_rng(1)
    twin = np.random.default_rng(1)

    def student(a, r, nested):
        a[1] = 7.0
        nested["w"] += 1
        r.random(2)

    w = np.ones(2)
    result, exc = exchange(student, x, rng, {"w": w})
    assert exc is None and result is None
    assert x.tolist() == [0.0, 7.0, 0.0] and w.tolist() == [2.0, 2.0]
    twin.random(2)
    assert rng.random() == twin.random(), "the Generator's state must come back"


def test_a_result_that_is_an_argument_is_the_callers_object():
    x = np.arange(3.0)
    result, _ = exchange(lambda a: a, x)
    assert result is x
    both, _ = exchange(lambda a, b: (b, a), x, x)
    assert both[0] is x and both[1] is x


def test_callbacks_see_the_perturbed_argument_and_restore_it():
    x = np.array([1.0, 2.0])
    seen = []

    def f(_):
        seen.append(x.copy())  # reads x through its closure, as a test's lambda does
        return float(np.sum(x ** 2))

    def numerical_gradient(fun, v, h=1e-5):
        grad = np.zeros_like(v)
        for i in range(v.size):
            old = v[i]
            v[i] = old + h
            plus = fun(v)
            v[i] = old - h
            minus = fun(v)
            v[i] = old
            grad[i] = (plus - minus) / (2 * h)
        return grad

    grad, exc = exchange(numerical_gradient, f, x)
    assert exc is None and np.allclose(grad, [2.0, 4.0]) and x.tolist() == [1.0, 2.0]
    assert len(seen) == 4 and not np.array_equal(seen[0], x)


def test_exceptions_cross_as_their_nearest_builtin():
    def raises(_):
        raise np.linalg.LinAlgError("singular")

    _, exc = exchange(raises, 1)
    assert isinstance(exc, ValueError) and "LinAlgError: singular" in str(exc)  # its builtin base
    _, exc = exchange(lambda _: {}["k"], 1)
    assert isinstance(exc, KeyError)
    _, exc = exchange(lambda _: undefined_name, 1)  # noqa: F821
    assert isinstance(exc, NameError)


def test_what_cannot_travel_is_refused_by_the_sender():
    with pytest.raises(TypeError, match="carries only"):
        wire.Wire().encode(object())
    with pytest.raises(TypeError):
        wire.Wire().encode(np.array(["a"]))
    with pytest.raises(TypeError):  # a function only travels where callbacks are collected
        wire.Wire().encode(len)


@pytest.mark.parametrize("node", [
    "not a node", {"t": "v"}, {"t": "v", "v": [1]}, {"t": "ref", "v": 0}, {"t": "list", "v": {"a": 1}},
    {"t": "array", "v": "!!!"}, {"t": "array", "v": 3}, {"t": "rng", "v": {"t": "v", "v": "x"}},
    {"t": "callback", "v": 0}, {"t": "student", "v": "sigmoid"}, {"t": "code", "v": "print(1)"},
    {"t": "nnlib", "c": "MLP", "v": {"t": "dict", "v": {}}}, {"t": "nnlib", "c": "os.system", "v": 1},
])
def test_malformed_and_hostile_nodes_are_rejected_clearly(node):
    with pytest.raises(wire.WireError):
        wire.Wire().decode(node)


def test_object_arrays_and_pickles_never_load():
    import base64
    import io

    buf = io.BytesIO()
    np.save(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    node = {"t": "array", "v": base64.b64encode(buf.getvalue()).decode()}
    with pytest.raises(wire.WireError):
        wire.Wire().decode(node)


def test_an_unlisted_bit_generator_is_refused():
    state = wire.Wire().encode({"bit_generator": "Evil", "state": {}})
    with pytest.raises(wire.WireError, match="not carried"):
        wire.Wire().decode({"t": "rng", "v": state})


def test_a_model_config_must_match_its_sizes():
    cfg = network.MLP([2, 3], seed=0).config()
    cfg["params"]["W1"] = np.zeros((5, 5))
    with pytest.raises(ValueError, match="W1"):
        network.MLP.from_config(cfg)
    with pytest.raises(ValueError, match="keys"):
        network.WindowScorer.from_config({"vocab_size": 3})


def test_malformed_write_back_and_replies():
    caller = wire.Wire()
    caller.encode([np.zeros(3)])
    with pytest.raises(wire.WireError):
        caller.restore([wire.Wire().encode(np.zeros(4))])  # another shape
    with pytest.raises(wire.WireError):
        caller.restore([])
    with pytest.raises(wire.WireError):
        caller.settle({"after": [wire.Wire().encode(np.zeros(3))]}, RuntimeError, "f")  # no result
    with pytest.raises(wire.WireError):
        caller.settle(["not", "a", "dict"], RuntimeError, "f")


def test_size_and_depth_limits():
    with pytest.raises(wire.WireError, match="over the limit"):
        wire.loads(" " * (wire.MAX_CHARS + 1))
    with pytest.raises(wire.WireError):
        wire.loads("{not json")
    deep = {"t": "v", "v": 1}
    for _ in range(wire.MAX_DEPTH + 5):
        deep = {"t": "list", "v": [deep]}
    with pytest.raises(wire.WireError, match="nested"):
        wire.Wire().decode(deep)


def test_nnlib_is_never_imported_where_it_is_not_allowed(monkeypatch):
    node = wire.Wire().encode(network.MLP([2, 2]))
    monkeypatch.setattr(wire, "nnlib_allowed", False)
    with pytest.raises(wire.WireError, match="nnlib does not exist"):
        wire.Wire().decode(node)


def test_global_value_gives_data_only():
    from nnlib import activations

    namespace = {"x": np.ones(2), "f": len, "m": activations, "net": network.MLP([1, 1]),
                 "unit": activations.lookup("tanh"), "box": [network.MLP([1, 1])]}
    assert "ok" in wire.global_value(namespace, "x")
    assert wire.global_value(namespace, "nothing") == {"missing": True}
    assert "nnlib.activations" in wire.global_value(namespace, "m")["not_data"]
    for name in ("f", "net", "unit", "box"):
        assert "not_data" in wire.global_value(namespace, name), name
    assert "nnlib" in wire.global_value(namespace, "net")["not_data"]


def test_rebinding_and_code_patches_are_noticed():
    def f():
        return 1

    namespace, record = {"f": f}, {}
    wire.record_bindings(namespace, ["f", "absent"], record)
    assert wire.rebound(namespace, record) == []
    f.__code__ = (lambda: 2).__code__
    assert wire.rebound(namespace, record) == ["f"]
    wire.record_bindings(namespace, ["f"], record)
    namespace["f"] = len
    assert wire.rebound(namespace, record) == ["f"]
