"""What travels between the grader and the processes that run a student's code: plain JSON.

The same module runs on every side (the grader imports it; the student's kernel imports it from
the jail's ``/opt/coursetools-lib``; the clean room loads this one file, nothing else of the
package), so the sides cannot disagree. It imports only the standard library and numpy; ``nnlib``
is imported lazily, and only where :data:`NNLIB` is allowed and an nnlib object is met.

What is carried: None, bools, numbers, strings, lists, tuples, dicts with string keys, numeric
numpy arrays and scalars (their dtype as numpy spells it, ``"<f8"``, their shape, and their bytes in
C order, base64: :func:`array_node`), numpy Generators by their bit generator's name and state
(allow-listed bit generators only), and nnlib's ``NERWindows``,
``WindowScorer`` and ``MLP`` by their own plain-data ``config()``, rebuilt with their own
``from_config`` (which checks the shapes before anything is built). Nothing received is unpickled
or executed: a tampered sender can send back only data, that is a wrong answer.

In-place semantics hold both ways, as when caller and callee share one process: every array and
Generator met while encoding the arguments enters the exchange's ``table`` (the same order on both
sides); after the call the callee sends the final state of those entries (``after``) and the caller
writes it into its own objects (``np.copyto``, the bit generator's state). A result that *is* one
of the arguments travels as a reference to it and comes back as the caller's own object.

A function of the caller passed as an argument becomes a ``callback`` index on the callee's side,
where a stub asks the caller (through ``ask``: the kernel's ``input()``, the clean room's line
protocol) to call it, with the arguments' current state going along both ways.
"""

import base64
import builtins
import importlib
import json
import math
import re
import sys

import numpy as np

MIME = "application/x-coursetools-result+json"
PROMPT = "coursetools-callback:"
MAX_CHARS = 32 << 20      # the largest message read
MAX_DEPTH = 64            # the deepest nesting decoded
MAX_DIMS = 32             # the most dimensions of an array decoded
# A numeric dtype as numpy's dtype.str spells it (byte order, kind, item size): nothing else reaches
# np.dtype, whose parser knows far more than numbers (and warns on some of it).
NUMERIC_DTYPE = re.compile(r"[<>|][biuf][0-9]{1,2}")
BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")
# Exceptions that cross over as themselves, so that a test's `except ValueError` still works.
EXCEPTIONS = ("ArithmeticError", "AssertionError", "AttributeError", "FloatingPointError", "IndexError",
              "KeyError", "LookupError", "NameError", "NotImplementedError", "OverflowError", "RuntimeError",
              "TypeError", "ValueError", "ZeroDivisionError")
# nnlib classes carried by their config(), and their modules.
NNLIB = {"NERWindows": "data", "WindowScorer": "network", "MLP": "network"}
# False where nnlib must never be imported (the clean room): an nnlib object cannot be rebuilt there.
nnlib_allowed = True


class WireError(ValueError):
    """A message that is not what this protocol sends: malformed, hostile or too large."""


def nnlib_class(name):
    if not nnlib_allowed:
        raise WireError(f"an nnlib {name} cannot be carried where nnlib does not exist")
    return getattr(importlib.import_module("nnlib." + NNLIB[name]), name)


def nnlib_name(value):
    """The :data:`NNLIB` name of ``value``'s class, if nnlib is loaded here and it is one of them."""
    for name, module in NNLIB.items():
        cls = getattr(sys.modules.get("nnlib." + module), name, None)
        if isinstance(cls, type) and isinstance(value, cls):
            return name
    return None


def raised(exc):
    """The reply for an exception: the nearest exception type that crosses over, and the message."""
    kind = next((c.__name__ for c in type(exc).__mro__ if c.__name__ in EXCEPTIONS), "RuntimeError")
    message = str(exc) if type(exc).__name__ == kind else f"{type(exc).__name__}: {exc}"
    reply = {"raised": kind, "message": message[:2000]}
    if isinstance(exc, NameError) and isinstance(getattr(exc, "name", None), str):
        reply["name"] = exc.name
    return reply


def generator(state):
    name = state.get("bit_generator") if isinstance(state, dict) else None
    if name not in BIT_GENERATORS:
        raise WireError(f"bit generator {name!r} is not carried")
    bit_generator = getattr(np.random, name)()
    try:
        bit_generator.state = state
    except (TypeError, ValueError, KeyError) as exc:
        raise WireError(f"malformed {name} state: {exc}") from None
    return np.random.Generator(bit_generator)


def array_node(kind, value):
    """A numeric array or numpy scalar as a node of ``kind``: dtype (with its byte order), shape and
    C-order bytes, whatever the layout of ``value`` (``tobytes`` keeps a 0-d array 0-d, where
    ``np.ascontiguousarray`` would make it 1-d)."""
    arr = np.asarray(value)
    return {"t": kind, "d": arr.dtype.str, "s": list(arr.shape),
            "v": base64.b64encode(arr.tobytes()).decode("ascii")}


def node_array(node):
    """The array an :func:`array_node` node carries, writable and owning its memory; else
    :class:`WireError`."""
    dtype, shape = _dtype(node.get("d")), _shape(node.get("s"))
    if type(node["v"]) is not str:
        raise WireError("malformed array: its bytes must be base64 text")
    try:
        raw = base64.b64decode(node["v"], validate=True)
    except ValueError:
        raise WireError("malformed array: its bytes are not valid base64") from None
    expected = math.prod(shape) * dtype.itemsize  # Python ints: no overflow
    if len(raw) != expected:
        raise WireError(f"malformed array: {len(raw)} bytes for shape {str(shape)[:100]} of {dtype.str}, "
                        f"not {str(expected)[:40]}")
    try:
        return np.frombuffer(raw, dtype).reshape(shape).copy()  # a copy: frombuffer's view is read-only
    except ValueError as exc:  # a zero-size array whose other sizes numpy cannot index
        raise WireError(f"malformed array: shape {str(shape)[:100]}: {exc}") from None


def _dtype(text):
    if type(text) is not str or not NUMERIC_DTYPE.fullmatch(text):
        raise WireError(f"malformed array: dtype {str(text)[:40]!r} is not a numeric dtype such as '<f8'")
    try:
        dtype = np.dtype(text)
    except TypeError:
        raise WireError(f"malformed array: dtype {text!r} is not understood") from None
    if dtype.kind not in "biuf" or dtype.str != text:
        raise WireError(f"malformed array: dtype {text!r} is not a numeric dtype as numpy spells it")
    return dtype


def _shape(value):
    if (type(value) is not list or len(value) > MAX_DIMS
            or not all(type(n) is int and n >= 0 for n in value)):
        raise WireError(f"malformed array: shape {str(value)[:100]} is not a list of at most "
                        f"{MAX_DIMS} non-negative ints")
    return tuple(value)


def loads(text):
    """A message read from the other side: JSON within the size limit, else :class:`WireError`."""
    if not isinstance(text, (str, bytes)):
        raise WireError(f"a message must be text, not {type(text).__name__}")
    if len(text) > MAX_CHARS:
        raise WireError(f"a message of {len(text)} characters is over the limit of {MAX_CHARS}")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise WireError(f"not JSON: {str(exc)[:200]}") from None


class Wire:
    """One exchange's encoder and decoder.

    ``table`` lists the arrays and Generators met so far, in traversal order, the same on both
    sides: a repeated object travels as a reference to its index, and after a call the final state
    of every table entry is written back into the caller's objects. ``callables`` (caller side
    only) collects the functions passed as arguments; ``stub`` and ``resolve`` (callee side only)
    turn a callback index into a function asking the caller, and a student name into the global.
    """

    def __init__(self, callables=None, stub=None, resolve=None):
        self.table, self.memo = [], {}
        self.callables, self.stub, self.resolve = callables, stub, resolve
        # Table index -> the exact state of that array when it last went either way in a write-back.
        self.synced = {}

    def _remember(self, value):
        self.memo[id(value)] = len(self.table)
        self.table.append(value)
        return value

    # ------------------------------------------------------------------ encoding

    def encode(self, value):
        if value is None or isinstance(value, (bool, int, float, str)):
            return {"t": "v", "v": value}
        if id(value) in self.memo:
            return {"t": "ref", "v": self.memo[id(value)]}
        if isinstance(value, (list, tuple)):
            kind = "tuple" if isinstance(value, tuple) else "list"
            return {"t": kind, "v": [self.encode(v) for v in value]}
        if isinstance(value, dict) and all(isinstance(k, str) for k in value):
            return {"t": "dict", "v": {k: self.encode(v) for k, v in value.items()}}
        if isinstance(value, np.generic) and value.dtype.kind in "biuf":
            return array_node("scalar", value)
        if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
            return array_node("array", self._remember(value))
        if isinstance(value, np.random.Generator):
            state = Wire().encode(value.bit_generator.state)
            self._remember(value)
            return {"t": "rng", "v": state}
        name = nnlib_name(value)
        if name is not None:
            return {"t": "nnlib", "c": name, "v": self.encode(value.config())}
        if getattr(type(value), "_cg_student_global", False):
            return {"t": "student", "v": value.name}
        if self.callables is not None and callable(value):
            self.callables.append(value)
            return {"t": "callback", "v": len(self.callables) - 1}
        raise TypeError(f"the grader carries only numbers, strings, numeric arrays, numpy Generators, "
                        f"lists, tuples, dicts and nnlib's {', '.join(NNLIB)}, not {type(value).__name__}")

    # ------------------------------------------------------------------ decoding

    def decode(self, node):
        """The value ``node`` encodes; :class:`WireError` for anything this protocol never sends."""
        try:
            return self._decode(node, 0)
        except WireError:
            raise
        except RecursionError:
            raise WireError("nested too deeply") from None
        except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError) as exc:
            raise WireError(f"malformed message ({type(exc).__name__}: {str(exc)[:200]})") from None

    def _decode(self, node, depth):
        if depth > MAX_DEPTH:
            raise WireError(f"nested deeper than {MAX_DEPTH}")
        if not isinstance(node, dict) or "t" not in node or "v" not in node:
            raise WireError("malformed node")
        kind, value = node["t"], node["v"]
        if kind == "v":
            if value is not None and not isinstance(value, (bool, int, float, str)):
                raise WireError("malformed value")
            return value
        if kind == "ref":
            if type(value) is not int or not 0 <= value < len(self.table):
                raise WireError("malformed reference")
            return self.table[value]
        if kind in ("list", "tuple"):
            if not isinstance(value, list):
                raise WireError(f"malformed {kind}")
            items = [self._decode(v, depth + 1) for v in value]
            return items if kind == "list" else tuple(items)
        if kind == "dict":
            if not isinstance(value, dict):
                raise WireError("malformed dict")
            return {str(k): self._decode(v, depth + 1) for k, v in value.items()}
        if kind in ("array", "scalar"):
            arr = node_array(node)
            if kind == "scalar":
                if arr.shape != ():
                    raise WireError("malformed scalar")
                return arr[()]
            return self._remember(arr)
        if kind == "rng":
            return self._remember(generator(Wire()._decode(value, depth + 1)))
        if kind == "nnlib" and node.get("c") in NNLIB:
            cls = nnlib_class(node["c"])
            return cls.from_config(self._decode(value, depth + 1))
        if kind == "callback" and self.stub is not None and type(value) is int:
            return self.stub(value, self)
        if kind == "student" and self.resolve is not None and isinstance(value, str):
            return self.resolve(value)
        raise WireError(f"unknown or misplaced kind {str(kind)[:40]!r}")

    # ------------------------------------------------------------------ write-back

    def snapshot(self, count):
        """The final state of the first ``count`` table entries (the arguments), for write-back.

        An array bit for bit as it last went either way travels as :data:`SAME`: the two sides take
        turns, so the other side's copy is still that state. A numerical gradient's callbacks then
        carry the one array that changed, not every argument of the call.
        """
        nodes = []
        for index, obj in enumerate(self.table[:count]):
            state = _state(obj)
            if state is not None and self.synced.get(index) == state:
                nodes.append(SAME)
            else:
                nodes.append(Wire().encode(obj))
                self.synced[index] = state
        return nodes

    def restore(self, snapshot):
        """Write the other side's final state of the arguments into this side's objects."""
        if not isinstance(snapshot, list) or len(snapshot) != len(self.table):
            raise WireError("malformed write-back")
        for index, (target, node) in enumerate(zip(self.table, snapshot)):
            if node == SAME:
                if self.synced.get(index) is None:
                    raise WireError("malformed write-back: 'same' as a state never exchanged")
                continue
            value = Wire().decode(node)
            if isinstance(target, np.random.Generator):
                if type(getattr(value, "bit_generator", None)) is not type(target.bit_generator):
                    raise WireError("malformed write-back of a Generator")
                target.bit_generator.state = value.bit_generator.state
            elif not isinstance(value, np.ndarray) or value.shape != target.shape:
                raise WireError("malformed write-back of an array")
            elif _state(target) != _state(value):
                try:
                    np.copyto(target, value, casting="same_kind")
                except (TypeError, ValueError) as exc:  # another kind; a read-only target
                    raise WireError(f"malformed write-back of an array: {exc}") from None
            self.synced[index] = _state(target)

    # ------------------------------------------------------------------ calls

    def run(self, function, args, kwargs):
        """Call ``function`` on decoded arguments; the reply: result or exception, and write-back."""
        count = len(self.table)
        try:
            reply = {"ok": self.encode(function(*args, **kwargs))}
        except BaseException as exc:  # whatever the callee raised goes back to the caller
            reply = raised(exc)
        reply["after"] = self.snapshot(count)
        return reply

    def settle(self, reply, fallback, who):
        """The caller's side of ``run``: write back; then (result, None) or (None, exception to raise)."""
        if not isinstance(reply, dict):
            raise WireError("a reply must be an object")
        if "ok" in reply or "after" in reply:
            self.restore(reply.get("after"))
        if "raised" in reply:
            kind = str(reply["raised"])
            cls = getattr(builtins, kind) if kind in EXCEPTIONS else fallback
            return None, cls(f"{who} raised {kind}: {str(reply.get('message', ''))[:2000]}")
        if "ok" not in reply:
            raise WireError("a reply carries neither a result nor an exception")
        return self.decode(reply["ok"]), None


SAME = {"t": "same", "v": None}  # in a write-back: unchanged since it last went either way


def _state(obj):
    """An array's exact state (bits, not values: -0.0 is not 0.0); None for a Generator, which always
    travels in full."""
    return (obj.dtype.str, obj.shape, obj.tobytes()) if isinstance(obj, np.ndarray) else None


def callee_wire(namespace, ask):
    """The wire of the side that runs a student's function: names resolve in ``namespace``, and the
    caller's functions become stubs that ``ask(text)`` the caller to run them."""
    return Wire(stub=lambda index, outer: _stub(index, outer, namespace, ask), resolve=namespace.__getitem__)


def _stub(index, outer, namespace, ask):
    """A stand-in for the caller's function number ``index``, passed to the student's function in the
    exchange ``outer``. That function may read the arguments of the call through a closure
    (``f = lambda _: loss(x)`` while the student perturbs ``x`` in place), so the arguments' current
    state goes with the request, and comes back as the function left it."""
    def grader_function(*args, **kwargs):
        wire = callee_wire(namespace, ask)
        request = {"callback": index, "args": wire.encode([list(args), kwargs]),
                   "outer": outer.snapshot(len(outer.table))}
        reply = loads(ask(PROMPT + json.dumps(request)))
        if isinstance(reply, dict) and "outer" in reply:
            outer.restore(reply["outer"])
        result, exc = wire.settle(reply, RuntimeError, "the grader's function")
        if exc is not None:
            raise exc
        return result
    return grader_function


def serve(namespace, name, request, ask):
    """The callee's side of one call: run ``namespace[name]`` on ``request``; the reply as JSON text."""
    wire = callee_wire(namespace, ask)
    try:
        args, kwargs = wire.decode(loads(request))
        function = namespace[name]
    except BaseException as exc:
        return json.dumps({**raised(exc), "after": []})
    return json.dumps(wire.run(function, list(args), dict(kwargs)))


# ---------------------------------------------------------------------------- in the student's kernel


def kernel_call(namespace):
    """The kernel's ``_cg_call(name, request)``: the reply goes out as a display of :data:`MIME`.

    A JSON text, not a JSON value: the message layer may parse with orjson, which turns a
    Generator state's 128-bit ints into floats."""
    def _cg_call(name, request):
        from IPython.display import display
        display({MIME: serve(namespace, name, request, input)}, raw=True)
    return _cg_call


def kernel_display(obj):
    """Send ``obj`` (plain JSON) to the grader from the kernel, as a display of :data:`MIME`."""
    from IPython.display import display
    display({MIME: json.dumps(obj)}, raw=True)


# What each forbidden answer cell bound, in the kernel (see record_bindings).
BINDINGS = {}


def describe(value):
    """What kind of thing a global is, in words, for a reason naming a route."""
    if type(value).__name__ == "module":
        return f"the module {getattr(value, '__name__', '?')}"
    module = getattr(value, "__module__", None) or getattr(type(value), "__module__", "")
    kind = "function" if callable(value) else f"{type(value).__name__} object"
    where = {"__main__": " defined in the notebook", "builtins": ""}.get(module, f" from {module}")
    return f"a {kind}{where}"


def global_value(namespace, name):
    """A global as data for another process, or why it cannot go: {"ok": node} | {"missing": True} |
    {"not_data": description}. An nnlib object is not data to a place where nnlib does not exist."""
    if name not in namespace:
        return {"missing": True}
    value = namespace[name]
    if nnlib_name(value) is not None or (type(value).__module__ or "").split(".")[0] == "nnlib":
        return {"not_data": f"an object built by nnlib ({type(value).__name__})"}
    try:
        node = Wire().encode(value)
    except TypeError:
        return {"not_data": describe(value)}
    if _holds_nnlib(value):
        return {"not_data": "a container holding an object built by nnlib"}
    return {"ok": node}


def _holds_nnlib(value, depth=0):
    if depth > MAX_DEPTH:
        return False
    if isinstance(value, (list, tuple)):
        return any(_holds_nnlib(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return any(_holds_nnlib(v, depth + 1) for v in value.values())
    return nnlib_name(value) is not None


def fingerprint(value):
    """What an answer cell bound to a name, to notice later rebinding or patching."""
    return [id(value), id(getattr(value, "__code__", None)), id(getattr(value, "__defaults__", None))]


def record_bindings(namespace, names, record):
    """After an answer cell ran: remember what it bound to each of ``names``."""
    for name in names:
        if name in namespace:
            record[name] = fingerprint(namespace[name])


def rebound(namespace, record):
    """The recorded names whose object (or its code) is no longer the one the answer cell bound."""
    return sorted(name for name, mark in record.items()
                  if name not in namespace or fingerprint(namespace[name]) != mark)
