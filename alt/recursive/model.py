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

A cell that multiplies a child's state by a weight says so with `cell.project(k, "U")` (U times
child k's state; a tuple of children projects their sum). That is what Cortex's recursive
refactoring moves across the recursion's back-edge: compiled with refactor=True, every node
computes its own projections right after its state, while it is still in cache (the projection
cell, `projection_definition`), and the parent reads them instead of multiplying.
"""
import math
import numbers
import re

import numpy as np

from .. import expr as E
from ..errors import AltError
from ..tensor import Tensor, compute, placeholder, reduce_axis

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
        if not isinstance(max_children, numbers.Integral) or isinstance(max_children, bool) or \
                not 1 <= max_children <= 64:
            raise ModelError(f"model {name}: max_children={max_children!r}; use an int in 1..64")
        self.kind, self.max_children = kind, int(max_children)
        if not states:
            raise ModelError(f"model {name}: no states; give e.g. states={{'h': 256}}")
        self.states, self.shapes = {}, {}  # flat sizes, and shapes
        for s, shape in states.items():
            shape = (shape,) if isinstance(shape, numbers.Integral) else tuple(shape) \
                if isinstance(shape, (tuple, list)) else (shape,)
            if not shape or len(shape) > 2 or not all(isinstance(d, numbers.Integral) and not isinstance(d, bool)
                                                      and d >= 1 for d in shape):
                raise ModelError(f"model {name}: state {s!r} has shape {shape!r}; a state is a vector (size) or a "
                                 "matrix (rows, columns) of positive sizes")
            shape = tuple(int(d) for d in shape)
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
        self._projections = None  # what the internal cell projects: see projections(model)

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

    def __init__(self, model, rows, refactored=None):
        self.model, self.rows = model, rows
        self.children, self.input_tensors, self.weight_tensors, self.views = {}, {}, {}, {}
        # refactored: {projection key: offset in a node's projection row}, or None (multiply here)
        self.refactored, self.projected = refactored, {}  # projected: {k: (rows, P) of child k's projections}
        self.projections = {}  # {key: output size} of every projection this cell asked for, in order
        self.own_state = None  # the projection cell's input: each node's own state row

    def child(self, k, state=None):
        """State `state` (default: the output state) of each node's k-th child: (rows, *shape)."""
        m = self.model
        state = state or m.output
        self._check_child(k, state)
        if (k, state) in self.views:  # one view per child and state, however often asked
            return self.views[k, state]
        if k not in self.children:
            self.children[k] = placeholder((self.rows, m.state_size), name=f"C{k}")
        src, off, shape = self.children[k], m.offsets[state], m.shapes[state]
        if len(shape) == 1:
            v = compute((self.rows,) + shape, lambda n, j: src[n, j + off], name=f"C{k}_{state}", tag="view")
        else:
            v = compute((self.rows,) + shape, lambda n, i, j: src[n, i * shape[1] + j + off], name=f"C{k}_{state}",
                        tag="view")
        self.views[k, state] = v
        return v

    def _check_child(self, k, state):
        m = self.model
        if not isinstance(k, int) or isinstance(k, bool) or not 0 <= k < m.max_children:
            raise ModelError(f"model {m.name}: child {k!r}; nodes have children 0..{m.max_children - 1}")
        if state not in m.states:
            raise ModelError(f"model {m.name}: no state {state!r}; states are {list(m.states)}")

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

    def project(self, children, weight, state=None, column=0, rows=None, gates=1):
        """W @ s for each node, s the state `state` (default: the output state) of child `children`,
        or the sum of the states of a tuple of children; W = weight[start:stop, column:column + size]
        for rows=(start, stop) (default: every row). Shape (rows, W rows), or (rows, gates, W rows /
        gates) with gate g made of W's rows g*out...(g+1)*out (the hidden axis last, as fused cells
        want it). Refactored (see the module's doc), each child computed its W @ s in its own step
        and this is their sum."""
        m = self.model
        ks = (children,) if isinstance(children, int) and not isinstance(children, bool) else children
        if not isinstance(ks, tuple) or not ks or len(set(ks)) != len(ks):
            raise ModelError(f"model {m.name}: project children {children!r}; give a child index or a tuple of "
                             "distinct ones")
        state = state or m.output
        for k in ks:
            self._check_child(k, state)
        if len(m.shapes[state]) != 1:
            raise ModelError(f"model {m.name}: project reads vector states; {state!r} is a matrix {m.shapes[state]}")
        W = self.weight(weight)
        size, rows_w = m.states[state], m.weights[weight].shape[0]
        if m.weights[weight].ndim != 2 or not isinstance(column, int) or isinstance(column, bool) or column < 0 \
                or column + size > m.weights[weight].shape[1]:
            raise ModelError(f"model {m.name}: project of {state!r} (size {size}) by weight {weight!r} "
                             f"{m.weights[weight].shape} from column {column!r}; the weight needs columns "
                             f"column..column+{size} in range")
        if rows is None:
            rows = (0, rows_w)
        if not (isinstance(rows, tuple) and len(rows) == 2 and all(
                isinstance(v, int) and not isinstance(v, bool) for v in rows) and 0 <= rows[0] < rows[1] <= rows_w):
            raise ModelError(f"model {m.name}: project rows={rows!r}; give (start, stop) within weight {weight!r}'s "
                             f"{rows_w} rows")
        start, stop = rows
        rows_w = stop - start
        if not isinstance(gates, int) or isinstance(gates, bool) or gates < 1 or rows_w % gates:
            raise ModelError(f"model {m.name}: project gates={gates!r}; give a positive divisor of the {rows_w} "
                             f"rows of weight {weight!r} it projects by")
        key, out = (weight, state, column, start, stop), rows_w // gates
        self.projections.setdefault(key, rows_w)
        if (ks, key, gates) in self.views:
            return self.views[ks, key, gates]
        self.views[ks, key, gates] = t = self._project(ks, key, gates, W, out)
        return t

    def _project(self, ks, key, gates, W, out):
        weight, state, column, start, _ = key
        size, name = self.model.states[state], f"P{''.join(map(str, ks))}_{weight}_{start}"
        shape = (self.rows, out) if gates == 1 else (self.rows, gates, out)
        if self.refactored is not None:  # the children's own projections, summed
            if key not in self.refactored:
                raise ModelError(f"model {self.model.name}: the internal cell projects {key} only on some calls; a "
                                 "refactored model needs the same projections every time")
            off = self.refactored[key]
            qs = [self._projected(k) for k in ks]

            def total(n, j):
                return _sum([q[n, off + j] for q in qs])
            if gates == 1:
                return compute(shape, total, name=name, tag="view")
            return compute(shape, lambda n, g, j: total(n, g * out + j), name=name, tag="view")
        kk, views = reduce_axis(size, "k"), [self.child(k, state) for k in ks]
        if len(views) > 1:  # the children's states summed once, not in the product's inner loop
            views = [compute((self.rows, size), lambda n, k: _sum([v[n, k] for v in views]), name=name + "_sum")]

        def prod(n, row):
            return E.sum_(W[row + start, kk + column] * views[0][n, kk], axis=kk)
        if gates == 1:
            return compute(shape, prod, name=name)
        return compute(shape, lambda n, g, j: prod(n, g * out + j), name=name)

    def _projected(self, k):
        if k not in self.projected:
            size = sum(projections(self.model).values())
            self.projected[k] = placeholder((self.rows, size), name=f"Q{k}")
        return self.projected[k]


def _sum(terms):
    out = terms[0]
    for t in terms[1:]:
        out = out + t
    return out


def projections(model):
    """{(weight, state, column, first row, end row): output size} of the projections the model's
    internal cell asks for (cell.project), in order; {} when it asks for none. Found by building
    the cell once (and kept on the model)."""
    found = model._projections
    if found is None:
        cell = Cell(model, 1)
        model.internal(cell)
        found = model._projections = dict(cell.projections)
    return found


def projection_definition(model, rows):
    """(Cell, tensor): the projection cell of a refactored model, for tiles of `rows` nodes: from
    each node's own state row (placeholder S), every projection the internal cell reads, joined
    one after the other like the states ((rows, P), or (rows, r, width) cut into rows of the
    projections' common size)."""
    found = projections(model)
    if not found:
        raise ModelError(f"model {model.name}: refactor=True, but its internal cell has no projection to move "
                         "(write W @ h_child as cell.project(k, 'W'))")
    cell = Cell(model, rows)
    S = placeholder((rows, model.state_size), name="S")
    cell.own_state = S
    outs, shapes = {}, {}
    for i, ((weight, state, column, start, _), size) in enumerate(found.items()):
        outs[f"p{i}"] = _own_projection(S, cell.weight(weight), model.offsets[state], model.states[state], column,
                                        start, rows, size, f"P{i}_{weight}")
        shapes[f"p{i}"] = (size,)
    return cell, _join(outs, shapes, rows, "projections", f"model {model.name}: refactor's projections")


def _own_projection(S, W, off, n, column, start, rows, size, name):
    """(rows, size): W[start:start + size, column:column + n] @ the state at `off` of each node's own row of S."""
    kk = reduce_axis(n, "k")
    return compute((rows, size), lambda r, j: E.sum_(W[j + start, kk + column] * S[r, kk + off], axis=kk),
                   name=name)


def cell_definition(model, which, rows, refactor=False):
    """(Cell, state tensor) of the model's `which` cell ('leaf' or 'internal'): the cell's outputs
    joined into one state row per node: (rows, size) for one vector state, else (rows, r, width)
    with every state cut into rows of the common last size `width` (the same bytes as the states
    one after the other; the hidden units stay the last axis, and no index needs a division).
    refactor: the internal cell reads its children's projections instead of multiplying."""
    offsets, off = {}, 0
    if refactor and which == "internal":
        for key, size in projections(model).items():
            offsets[key] = off
            off += size
    cell = Cell(model, rows, offsets if refactor and which == "internal" else None)
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
    return cell, _join(outs, model.shapes, rows, "state", f"model {model.name}: states")


def _join(outs, shapes, rows, name, what):
    """One tensor of the tensors `outs` ({name: (rows, *shape)}, in order) one after the other per
    row: (rows, size) for one vector, else (rows, r, width) cut into rows of their common last size."""
    order = list(outs)
    widths = {shapes[s][-1] for s in order}
    if len(order) == 1 and outs[order[0]].ndim == 2:
        t = outs[order[0]]
        return compute((rows, t.shape[1]), lambda n, j: t[n, j], name=name)
    if len(widths) == 1:
        # every part has the same last size: (rows, matrix rows, width), the same bytes
        width, starts, r = widths.pop(), [], 0
        for s in order:
            starts.append(r)
            r += math.prod(shapes[s]) // width

        def value(i, n, q, j):
            t = outs[order[i]]
            return t[n, j] if t.ndim == 2 else t[n, q - starts[i], j]
        return compute((rows, r, width), lambda n, q, j: _by_range(
            [(starts[i + 1] if i + 1 < len(order) else None, value(i, n, q, j)) for i in range(len(order))], q),
            name=name)
    raise ModelError(f"{what} {dict((s, shapes[s]) for s in order)} must all end in the same size (a node's "
                     "row is cut into rows of that size)")


def _by_range(parts, q):
    """select(q < end0, v0, select(q < end1, v1, ... v_last)) for parts [(end, value)]."""
    out = parts[-1][1]
    for end, v in reversed(parts[:-1]):
        out = E.select(q < end, v, out)
    return out
