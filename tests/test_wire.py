"""coursetools.wire on its own: no kernel, no sandbox, no root; each test runs in milliseconds.

Every exchange is simulated as the grader and a kernel (or the clean room) run it: the caller
encodes, the text crosses as JSON, the callee decodes and runs, the reply crosses back, and the
caller settles it.
"""

import base64
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


NUMERIC = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
           "float16", "float32", "float64"]


@pytest.mark.parametrize("dtype", NUMERIC + [">f8", ">i4", ">u2", ">f2"])
def test_arrays_and_scalars_round_trip_with_dtype_and_byte_order(dtype):
    a = (np.arange(12).reshape(3, 4) % 3).astype(dtype)
    back = round_trip(a)
    assert back.dtype == a.dtype and back.shape == a.shape and np.array_equal(back, a)
    assert back.flags.writeable and back.flags.owndata
    scalar = a[0, 1]  # in native byte order, whatever the array's
    s = round_trip(scalar)
    assert s == scalar
    if not isinstance(scalar, float):  # np.float64 is a Python float, and travels as one
        assert isinstance(s, np.generic) and s.dtype == scalar.dtype


@pytest.mark.parametrize("a", [np.array(2.5), np.array(7, dtype=">i2"), np.zeros((0, 3)),
                               np.arange(24.0).reshape(4, 6)[:, ::2], np.arange(10)[::-3],
                               np.asfortranarray(np.arange(6).reshape(2, 3)), np.arange(8.0).reshape(2, 4).T])
def test_0d_empty_strided_and_fortran_arrays_round_trip(a):
    back = round_trip(a)
    assert type(back) is np.ndarray and back.shape == a.shape and back.dtype == a.dtype
    assert np.array_equal(back, a)
    assert back.flags.writeable and back.flags.owndata and back.flags.c_contiguous


def test_an_array_node_is_dtype_shape_and_raw_bytes():
    node = wire.Wire().encode(np.array([[1.0, 2.0]], dtype=">f4"))
    assert node == {"t": "array", "d": ">f4", "s": [1, 2],
                    "v": base64.b64encode(np.array([[1.0, 2.0]], dtype=">f4").tobytes()).decode()}
    assert wire.Wire().encode(np.int16(-3))["s"] == []


def array(dtype="<f8", shape=(2, 3), data=None, kind="array"):
    """A hand-made array node, well formed unless a field is given otherwise."""
    data = base64.b64encode(bytes(8 * 6)).decode() if data is None else data
    return {"t": kind, "d": dtype, "s": list(shape) if isinstance(shape, tuple) else shape, "v": data}


def test_a_hand_made_node_decodes():
    back = wire.Wire().decode(array())
    assert back.shape == (2, 3) and not back.any()
    assert wire.Wire().decode(array(shape=(2, 3, 1))).shape == (2, 3, 1)  # any shape of 48 bytes
    assert wire.Wire().decode(array("|u1", [], "Bw==", kind="scalar")) == np.uint8(7)


@pytest.mark.parametrize("node, problem", [
    (array(shape=(2, 2)), "bytes for shape"),                       # 48 bytes for 32
    (array(shape=(2, 4)), "bytes for shape"),
    (array(data=base64.b64encode(bytes(47)).decode()), "bytes for shape"),
    (array(shape=(-2, -3)), "non-negative ints"),
    (array(shape=[True, 6]), "non-negative ints"),
    (array(shape=[2.0, 3.0]), "non-negative ints"),
    (array(shape=[2, "3"]), "non-negative ints"),
    (array(shape=[1] * 33), "at most 32"),
    (array(shape=[2 ** 62 + 6]), "bytes for shape"),                # 48 bytes, modulo 2 ** 64
    (array(shape=[2 ** 40, 2 ** 40]), "bytes for shape"),
    (array(shape=[0, 2 ** 62, 2 ** 62], data=""), "shape"),         # zero bytes, but numpy cannot index it
    (array(shape="(2, 3)"), "non-negative ints"),
    (array(shape=None), "non-negative ints"),
    (array("|O"), "not a numeric dtype"),
    (array("<U3"), "not a numeric dtype"),
    (array("|S8"), "not a numeric dtype"),
    (array("<M8[s]"), "not a numeric dtype"),
    (array("<c16", shape=(1, 3)), "not a numeric dtype"),
    (array("<f8,<i4", shape=(2, 2)), "not a numeric dtype"),
    (array("(2,3)<f8", shape=[1]), "not a numeric dtype"),
    (array("|V8"), "not a numeric dtype"),
    (array("float64"), "not a numeric dtype"),
    (array("a8"), "not a numeric dtype"),
    (array("<i3"), "not understood"),
    (array("|f8"), "as numpy spells it"),                          # numpy writes "<f8"
    (array(8), "not a numeric dtype"),
    (array(["<f8"]), "not a numeric dtype"),
    (array(None), "not a numeric dtype"),
    (array("<f8" + " " * 10_000), "not a numeric dtype"),
    (array(data="!!!!" * 12), "not valid base64"),
    (array(data=base64.b64encode(bytes(48)).decode() + "\n"), "not valid base64"),
    (array(data="é" * 64), "not valid base64"),
    (array(data=list(range(48))), "base64 text"),
    (array(kind="scalar"), "malformed scalar"),
])
def test_malformed_arrays_are_rejected_naming_the_problem(node, problem):
    with pytest.raises(wire.WireError, match=problem):
        wire.Wire().decode(node)


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


def test_in_place_writes_come_back_into_arrays_of_any_layout_and_byte_order():
    f = np.asfortranarray(np.zeros((2, 3)))
    big = np.zeros(3, dtype=">i4")
    strided = np.zeros(8)[::2]

    def student(a, b, c):
        a[1, 2] = 5.0
        b += 7
        c[:] = [1, 2, 3, 4]

    _, exc = exchange(student, f, big, strided)
    assert exc is None and f.flags.f_contiguous and big.dtype == ">i4"
    assert f[1, 2] == 5.0 and f.sum() == 5.0
    assert big.tolist() == [7, 7, 7] and strided.tolist() == [1, 2, 3, 4]


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


def test_a_write_back_carries_what_changed_bit_for_bit_and_nothing_else():
    a, b = np.array([1.0, 2.0]), np.array([0.0, 3.0])
    caller, callee = wire.Wire(), wire.Wire()
    x, y = callee.decode(json.loads(json.dumps(caller.encode([a, b]))))
    first = callee.snapshot(2)
    assert [n["t"] for n in first] == ["array", "array"]  # nothing was exchanged yet
    caller.restore(json.loads(json.dumps(first)))
    y[0] = -0.0  # equal to 0.0 in value, not in bits
    second = callee.snapshot(2)
    assert second[0] == wire.SAME and second[1]["t"] == "array"
    caller.restore(json.loads(json.dumps(second)))
    assert np.signbit(b[0]) and a.tolist() == [1.0, 2.0]
    assert caller.snapshot(2) == [wire.SAME, wire.SAME]  # the caller changed nothing since
    a[1] = 5.0
    callee.restore(caller.snapshot(2))
    assert x.tolist() == [1.0, 5.0] and np.signbit(y[0])


def test_same_is_refused_where_nothing_was_exchanged():
    caller = wire.Wire()
    caller.encode([np.zeros(3)])
    with pytest.raises(wire.WireError, match="never exchanged"):
        caller.restore([wire.SAME])


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
    import pickle

    obj = np.array([{"a": 1}], dtype=object)
    for dtype, raw in (("|O", obj.tobytes()), ("<f8", pickle.dumps(obj))):  # pointers; a pickle as floats
        node = {"t": "array", "d": dtype, "s": [1], "v": base64.b64encode(raw).decode()}
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
