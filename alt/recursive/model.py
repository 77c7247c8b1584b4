"""Declaring a recursive model: the structure it walks, its per-node state, and two cells written as
tensor expressions over a tile of nodes (one cell for leaves, one for internal nodes).

    def internal(cell):                       # a tile of cell.rows internal nodes
        hl, hr = cell.child(0, "h"), cell.child(1, "h")
        W, b = cell.weight("W"), cell.weight("b")
        k = alt.reduce_axis(H, "k")
        pre = alt.compute((cell.rows, H), lambda n, i: alt.sum(W[i, k] * hl[n, k] + W[i, H + k] * hr[n, k], axis=k))
        return {"h": alt.compute((cell.rows, H), lambda n, i: alt.max(pre[n, i] + b[i], 0.0))}

    model = RecursiveModel("treefc", "tree", 2, states={"h": H}, inputs={"word": emb},
                           weights={"W": W, "b": b}, leaf=lambda c: {"h": c.input("word")}, internal=internal)

A node's states are vectors or matrices (MV-RNN's M), stored one after the other in one row per
node. A missing
child reads as zeros; a node's input is the row of each input table at the node's word index
(zeros where the node has none).
"""
import math
import re

import numpy as np

from .. import expr as E
from ..errors import AltError
from ..tensor import Tensor, compute, placeholder

KINDS = ("tree", "dag", "sequence")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,31}$")


class ModelError(AltError, ValueError):
    """A recursive model declaration is malformed."""


def _check_name(name, what):
    if not isinstance(name, str) or not _NAME.match(name):
        raise ModelError(f"{what} name {name!r} must be an identifier of at most 32 characters")
    return name


class RecursiveModel:
    """A model over trees (at most `max_children` children per node), sequences or DAGs.

    states: {name: size or (rows, columns)} of each node's state vectors or matrices; inputs: {name: (V, E) table} looked up by a
    node's word index; weights: {name: array}; leaf / internal: functions of a Cell returning
    {state name: tensor (cell.rows, size)}; output: the state returned for each structure's root.
    """

    def __init__(self, name, kind, max_children, states, leaf, internal, weights=None, inputs=None, output=None):
        self.name = _check_name(name, "model")
        if kind not in KINDS:
            raise ModelError(f"model {name}: structure kind {kind!r} is not one of {KINDS}")
        if kind == "sequence" and max_children != 1:
            raise ModelError(f"model {name}: a sequence has one predecessor per node, not max_children={max_children}")
        if not isinstance(max_children, int) or not 1 <= max_children <= 64:
            raise ModelError(f"model {name}: max_children={max_children!r}; use an int in 1..64")
        self.kind, self.max_children = kind, max_children
        if not states:
            raise ModelError(f"model {name}: no states; give e.g. states={{'h': 256}}")
        self.states, self.shapes = {}, {}  # flat sizes, and shapes
        for s, shape in states.items():
            shape = (shape,) if isinstance(shape, int) else tuple(shape)
            if not shape or len(shape) > 2 or not all(isinstance(d, int) and d >= 1 for d in shape):
                raise ModelError(f"model {name}: state {s!r} has shape {shape!r}; a state is a vector (size) or a "
                                 "matrix (rows, columns) of positive sizes")
            self.shapes[_check_name(s, "state")] = shape
            self.states[s] = math.prod(shape)
        self.offsets, off = {}, 0
        for s, size in self.states.items():
            self.offsets[s] = off
            off += size
        self.state_size = off
        self.output = output or next(iter(self.states))
        if self.output not in self.states:
            raise ModelError(f"model {name}: output {self.output!r} is not a state; states are {list(self.states)}")
        self.weights = {_check_name(k, "weight"): _array(v, f"model {name} weight {k!r}")
                        for k, v in (weights or {}).items()}
        self.inputs = {}
        for k, v in (inputs or {}).items():
            a = _array(v, f"model {name} input table {k!r}")
            if a.ndim != 2:
                raise ModelError(f"model {name}: input table {k!r} has shape {a.shape}; it must be (vocabulary, size)")
            self.inputs[_check_name(k, "input")] = a
        vocab = {a.shape[0] for a in self.inputs.values()}
        if len(vocab) > 1:
            raise ModelError(f"model {name}: input tables have different vocabularies {sorted(vocab)}")
        self.vocab = vocab.pop() if vocab else 0
        self.leaf, self.internal = leaf, internal

    def __repr__(self):
        return (f"RecursiveModel({self.name!r}, {self.kind}, max_children={self.max_children}, "
                f"states={self.states}, weights={sorted(self.weights)}, inputs={sorted(self.inputs)})")


def _array(v, what):
    a = np.ascontiguousarray(v, dtype=np.float32)
    if not np.all(np.isfinite(a)):
        raise ModelError(f"{what} has non-finite values")
    return a


class Cell:
    """What a cell function reads, for a tile of `rows` nodes: children's states, the node's
    inputs and the weights. Placeholders are created on first use."""

    def __init__(self, model, rows):
        self.model, self.rows = model, rows
        self.children, self.input_tensors, self.weight_tensors = {}, {}, {}

    def child(self, k, state=None):
        """State `state` (default: the output state) of each node's k-th child: (rows, *shape)."""
        m = self.model
        state = state or m.output
        if not isinstance(k, int) or not 0 <= k < m.max_children:
            raise ModelError(f"model {m.name}: child {k!r}; nodes have children 0..{m.max_children - 1}")
        if state not in m.states:
            raise ModelError(f"model {m.name}: no state {state!r}; states are {list(m.states)}")
        if k not in self.children:
            self.children[k] = placeholder((self.rows, m.state_size), name=f"C{k}")
        src, off, shape = self.children[k], m.offsets[state], m.shapes[state]
        if len(shape) == 1:
            return compute((self.rows,) + shape, lambda n, j: src[n, j + off], name=f"C{k}_{state}", tag="view")
        return compute((self.rows,) + shape, lambda n, i, j: src[n, i * shape[1] + j + off], name=f"C{k}_{state}",
                       tag="view")

    def input(self, name):
        m = self.model
        if name not in m.inputs:
            raise ModelError(f"model {m.name}: no input table {name!r}; tables are {list(m.inputs)}")
        if name not in self.input_tensors:
            self.input_tensors[name] = placeholder((self.rows, m.inputs[name].shape[1]), name=f"X_{name}")
        return self.input_tensors[name]

    def weight(self, name):
        m = self.model
        if name not in m.weights:
            raise ModelError(f"model {m.name}: no weight {name!r}; weights are {sorted(m.weights)}")
        if name not in self.weight_tensors:
            self.weight_tensors[name] = placeholder(m.weights[name].shape, name=f"W_{name}")
        return self.weight_tensors[name]


def cell_definition(model, which, rows):
    """(Cell, state tensor) of the model's `which` cell ('leaf' or 'internal'): the cell's outputs
    joined into one state row per node: (rows, size) for one vector state, else (rows, r, width)
    with every state cut into rows of the common last size `width` (the same bytes as the states
    one after the other; the hidden units stay the last axis, and no index needs a division)."""
    cell = Cell(model, rows)
    fn = model.leaf if which == "leaf" else model.internal
    outs = fn(cell)
    if not isinstance(outs, dict) or set(outs) != set(model.states):
        got = sorted(outs) if isinstance(outs, dict) else type(outs).__name__
        raise ModelError(f"model {model.name}: the {which} cell returned {got}; it must return a dict with "
                         f"every state {sorted(model.states)}")
    for s, t in outs.items():
        want = (rows,) + model.shapes[s]
        if not isinstance(t, Tensor) or t.shape != want:
            shape = t.shape if isinstance(t, Tensor) else type(t).__name__
            raise ModelError(f"model {model.name}: the {which} cell's state {s!r} is {shape}; it must be a "
                             f"tensor of shape {want}")
    order = list(model.states)
    widths = {model.shapes[s][-1] for s in order}
    if len(order) == 1 and outs[order[0]].ndim == 2:
        t = outs[order[0]]
        return cell, compute((rows, model.state_size), lambda n, j: t[n, j], name="state")
    if len(widths) == 1:
        # every state has the same last size: the state is (rows, matrix rows, width), the same bytes
        width, starts, r = widths.pop(), [], 0
        for s in order:
            starts.append(r)
            r += model.states[s] // width

        def value(i, n, q, j):
            t = outs[order[i]]
            return t[n, j] if t.ndim == 2 else t[n, q - starts[i], j]
        return cell, compute((rows, r, width), lambda n, q, j: _by_range(
            [(starts[i + 1] if i + 1 < len(order) else None, value(i, n, q, j)) for i in range(len(order))], q),
            name="state")
    raise ModelError(f"model {model.name}: states {dict(model.shapes)} must all end in the same size (a node's "
                     "state row is cut into rows of that size)")


def _by_range(parts, q):
    """select(q < end0, v0, select(q < end1, v1, ... v_last)) for parts [(end, value)]."""
    out = parts[-1][1]
    for end, v in reversed(parts[:-1]):
        out = E.select(q < end, v, out)
    return out
