"""The graph IR: a network is a DAG of operator nodes over values (tensors).

Build one with the functional API (alt.graph.conv2d(x, w, ...)); every value knows its graph.
"""
import numbers

import numpy as np

from ..errors import ComputeError
from .opdefs import OPS


class Value:
    """A tensor of the network: a graph input, a parameter (constant) or a node's output."""

    def __init__(self, graph, shape, name, producer=None, data=None):
        self.graph, self.shape, self.name = graph, tuple(shape), name
        self.producer = producer  # Node, or None for inputs and parameters
        self.data = data  # numpy array for parameters

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def is_param(self):
        return self.data is not None

    def __repr__(self):
        return f"Value({self.name!r}, {list(self.shape)})"


class Node:
    def __init__(self, op, inputs, attrs, name):
        self.op, self.inputs, self.attrs, self.name = op, list(inputs), dict(attrs), name
        self.output = None

    def __repr__(self):
        return f"Node({self.op}, {self.name!r})"


class Graph:
    """Nodes in the order they were created (a topological order), inputs, parameters, outputs."""

    def __init__(self, name="net"):
        self.name = name
        self.nodes, self.inputs, self.params, self.outputs = [], [], [], []
        self._names = set()

    def _unique(self, name):
        base, n = name, 1
        while name in self._names:
            name, n = f"{base}_{n}", n + 1
        self._names.add(name)
        return name

    def input(self, shape, name="x"):
        """A float32 input of the network, of `shape` (positive whole numbers)."""
        if isinstance(shape, numbers.Integral):
            shape = (shape,)
        if not isinstance(shape, (tuple, list)) or not shape or \
                not all(isinstance(e, numbers.Integral) and not isinstance(e, bool) and e >= 1 for e in shape):
            raise ComputeError(f"graph {self.name!r}: input {name!r} has shape {shape!r}; give a non-empty tuple of "
                               "positive whole numbers")
        v = Value(self, tuple(int(e) for e in shape), self._unique(name))
        self.inputs.append(v)
        return v

    def param(self, array, name="w"):
        """A constant (weight) of the network, float32."""
        try:
            array = np.ascontiguousarray(array, dtype=np.float32)
        except (TypeError, ValueError) as e:
            raise ComputeError(f"graph {self.name!r}: parameter {name!r} is {_describe(array)}, which is not an array "
                               f"of numbers ({e})") from None
        if array.size == 0 or array.ndim == 0:
            raise ComputeError(f"graph {self.name!r}: parameter {name!r} has shape {list(array.shape)}; give an array "
                               "with at least one dimension and one element")
        v = Value(self, array.shape, self._unique(name), data=array)
        self.params.append(v)
        return v

    def output(self, *values):
        """Mark `values` (one or more values that nodes of this graph compute) as what the network
        returns, in this order."""
        if not values:
            raise ComputeError(f"graph {self.name!r}: output() needs at least one value")
        for v in values:
            why = output_error(self, v)
            if why:
                raise ComputeError(why)
        self.outputs = list(values)
        return self

    def add_node(self, op, inputs, attrs, name=None):
        for i, v in enumerate(inputs):
            if not isinstance(v, Value) or v.graph is not self:
                raise ComputeError(f"graph {self.name!r}: input {i} of {op} is {_describe(v)}, not a value of this "
                                   "graph; wrap a weight with graph.param(array), an input with graph.input(shape)")
        node = Node(op, inputs, attrs, self._unique(name or op))
        shape = OPS[op].infer(node)
        node.output = Value(self, shape, node.name, producer=node)
        self.nodes.append(node)
        return node.output

    def consumers(self):
        """{id(value): [nodes reading it]}."""
        out = {}
        for n in self.nodes:
            for v in n.inputs:
                out.setdefault(id(v), []).append(n)
        return out

    def __repr__(self):
        return f"Graph({self.name!r}, {len(self.nodes)} nodes)"


def _describe(x):
    """A short description of `x` for an error message (an array by its dtype and shape, not its data)."""
    if isinstance(x, Value):
        return f"value {x.name!r} of graph {x.graph.name!r}"
    if isinstance(x, np.ndarray):
        return f"a numpy array {x.dtype}{list(x.shape)}"
    text = repr(x)
    return f"{type(x).__name__} {text[:60] + '...' if len(text) > 60 else text}"


def output_error(graph, v):
    """Why `v` cannot be an output of `graph` (None if it can): outputs are values its nodes compute."""
    if not isinstance(v, Value) or v.graph is not graph:
        return f"graph {graph.name!r}: output {_describe(v)} is not a value of this graph"
    if v.producer is None:
        what = "a parameter" if v.is_param else "an input"
        return (f"graph {graph.name!r}: output {v.name!r} is {what} of the graph, which no node computes; "
                "return values that nodes compute")
    return None


def _ints(v, n, what):
    t = (v,) * n if isinstance(v, numbers.Integral) else tuple(v)
    if len(t) != n or not all(isinstance(x, numbers.Integral) for x in t):
        raise ComputeError(f"{what}={v!r} must be an integer or {n} of them")
    return tuple(int(x) for x in t)


# the functional API -------------------------------------------------------------------------

def conv2d(x, w, stride=1, padding=0, dilation=1, groups=1, name=None):
    return x.graph.add_node("conv2d", [x, w], {"stride": _ints(stride, 2, "stride"),
                                                "padding": _ints(padding, 2, "padding"),
                                                "dilation": _ints(dilation, 2, "dilation"), "groups": groups}, name)


def dense(x, w, b=None, name=None):
    return x.graph.add_node("dense", [x, w] + ([b] if b is not None else []), {}, name)


def matmul(a, b, name=None):
    return a.graph.add_node("matmul", [a, b], {}, name)


def batch_matmul(a, b, name=None):
    return a.graph.add_node("batch_matmul", [a, b], {}, name)


def bias_add(x, b, name=None):
    return x.graph.add_node("bias_add", [x, b], {}, name)


def batch_norm(x, scale, shift, name=None):
    return x.graph.add_node("batch_norm", [x, scale, shift], {}, name)


def relu(x, name=None):
    return x.graph.add_node("relu", [x], {}, name)


def relu6(x, name=None):
    return x.graph.add_node("relu6", [x], {}, name)


def add(a, b, name=None):
    return a.graph.add_node("add", [a, b], {}, name)


def max_pool2d(x, kernel, stride=None, padding=0, name=None):
    return x.graph.add_node("max_pool2d", [x], {"kernel": _ints(kernel, 2, "kernel"),
                                                 "stride": _ints(stride if stride is not None else kernel, 2, "stride"),
                                                 "padding": _ints(padding, 2, "padding")}, name)


def avg_pool2d(x, kernel, stride=None, padding=0, name=None):
    return x.graph.add_node("avg_pool2d", [x], {"kernel": _ints(kernel, 2, "kernel"),
                                                 "stride": _ints(stride if stride is not None else kernel, 2, "stride"),
                                                 "padding": _ints(padding, 2, "padding")}, name)


def global_avg_pool2d(x, name=None):
    return x.graph.add_node("global_avg_pool2d", [x], {}, name)


def softmax(x, name=None):
    return x.graph.add_node("softmax", [x], {}, name)


def layer_norm(x, gamma, beta, eps=1e-5, name=None):
    return x.graph.add_node("layer_norm", [x, gamma, beta], {"eps": float(eps)}, name)


def gelu(x, name=None):
    return x.graph.add_node("gelu", [x], {}, name)


def scale(x, factor, name=None):
    return x.graph.add_node("scale", [x], {"factor": float(factor)}, name)


def reshape(x, shape, name=None):
    return x.graph.add_node("reshape", [x], {"shape": tuple(int(d) for d in shape)}, name)


def transpose(x, axes, name=None):
    return x.graph.add_node("transpose", [x], {"axes": tuple(int(a) for a in axes)}, name)
