"""Compiling a recursive model into one C function, and running it on batches of structures.

    net = alt.recursive.compile(model)                  # every optimization on
    roots = net([tree1, tree2])                         # (2, output size): the roots' states
    slow = alt.recursive.compile(model, batching=False) # ablations: batching, leaf_specialization, fusion

Each switch is one of Cortex's recursion optimizations:
- batching: nodes of equal height run together as tiles of `rows` nodes (dynamic batching computed
  ahead of time by the linearizer); off: one node at a time, in the same order;
- leaf_specialization: leaves (batch 0) run the leaf cell only and internal nodes the internal cell
  only; off: every tile runs both cells and picks each node's result with an is-leaf test;
- fusion: all gates and the elementwise tail of a cell in one loop nest per block of hidden units
  (or of rows, for small cells); off: each operator of the cell its own loop nest, intermediates
  through memory;
- level_tiles: each level's last tile (a whole narrow level, e.g. the one-node levels near a root)
  runs a cell compiled for the smallest tile height that holds it (1, 2, 3, 4, 6, 8 and powers of
  two below `rows`, then `rows`); off: every tile is `rows` high and a partial tile repeats its
  last node;
- hoist: leaves without input (word -1, or every leaf when the leaf cell reads none) are one
  constant state, computed once per call and copied; off: computed like the other leaves;
- unroll (a depth d, default 1: off): heights are taken d at a time, and each tile of nodes of the
  range's top height runs right after its descendants within the range (bottom first), so that a
  node's children are computed next to it while their states are in cache (Cortex's unrolling;
  trees only: a DAG node may have several parents);
- refactor: Cortex's recursive refactoring. The products of a child's state by a weight that the
  internal cell asks for (cell.project) move across the recursion's back-edge: each node computes
  them in its own step, right after its state (a projection cell run on the tile it just wrote),
  and its parent reads and sums them instead of multiplying. The internal cell is left with the
  work that depends on the node itself, and more of it may fuse (TreeGRU's r). Default off: the
  projection step writes each node's projections and its parent reads them back, which costs more
  than the fusion saves (Zen 3: TreeGRU 1.15-1.35x faster unrefactored, TreeLSTM 0.96-1.11x); the
  cell tuner tries both.
Weights live in one packed buffer, pre-transformed to the layouts the cells read.
"""
import inspect
import time

import numpy as np

from .. import buffers
from ..lower import lower
from ..schedule import topo_order
from ..tensor import PlaceholderOp
from .model import ModelError, cell_definition, projection_definition, projections
from .schedule import CELL_ROWS, cell_rows, schedule_cell
from .structure import StructureError, Tree, concat, to_arrays

LINEARIZE_ERRORS = {-1: "reads a node outside the structure", -2: "has two parents; a tree node has one",
                    -3: "is on a cycle; a tree or DAG has none",
                    -11: "has a parent outside its tree", -12: "is a structure without exactly one root",
                    -13: "has more children than the model allows", -14: "has a word index out of range"}


class Options:
    """The compile options of a recursive model (see the module's doc for the switches), checked.
    Cell knobs: `rows` nodes a full tile (default: alt.recursive.schedule.cell_rows, two passes of
    the register tile), `block_vectors` vectors of hidden units per block of a fused cell (default:
    the widest register tile of its products), `blocked_weights` (weights stored as one stream per
    block, else only transposed), `register_tile` (rows, vectors) of accumulators for every product
    (default: each product and tile height its own, alt.recursive.schedule.cell_register_tile, from
    the target's registers and the product's operands)."""
    SWITCHES = ("batching", "leaf_specialization", "fusion", "level_tiles", "hoist", "blocked_weights", "refactor")

    def __init__(self, batching=True, leaf_specialization=True, fusion=True, rows=None, level_tiles=True, hoist=True,
                 block_vectors=None, blocked_weights=True, register_tile=None, unroll=1, refactor=False):
        if rows is None:  # a tile of nodes: two passes of the cells' register tile
            rows = cell_rows()
        _whole("rows", rows, 256, "a tile of 1..256 nodes")
        if block_vectors is not None:  # else each cell its own
            _whole("block_vectors", block_vectors, 64, "1..64 vectors of hidden units per block")
        _whole("unroll", unroll, 16, "an unrolling depth of 1 (off) to 16 heights")
        self.unroll = unroll
        if register_tile is not None:  # else each product its own
            if not (isinstance(register_tile, (tuple, list)) and len(register_tile) == 2 and all(
                    isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 16 for v in register_tile)):
                raise ModelError(f"recursive compile: register_tile={register_tile!r}; give (rows, vectors) of "
                                 "1..16 each")
            register_tile = tuple(register_tile)
        for name, v in (("batching", batching), ("leaf_specialization", leaf_specialization), ("fusion", fusion),
                        ("level_tiles", level_tiles), ("hoist", hoist), ("blocked_weights", blocked_weights),
                        ("refactor", refactor)):
            if not (isinstance(v, (bool, np.bool_)) or (isinstance(v, (int, np.integer)) and v in (0, 1))):
                raise ModelError(f"recursive compile: {name}={v!r}; a switch is True or False (or 1 or 0)")
        self.batching, self.leaf_specialization, self.fusion = bool(batching), bool(leaf_specialization), bool(fusion)
        self.rows = rows if batching else 1
        self.level_tiles, self.hoist = bool(level_tiles), bool(hoist)
        self.refactor = bool(refactor)
        self.block_vectors, self.blocked_weights, self.register_tile = block_vectors, bool(blocked_weights), register_tile
        # tile heights compiled: register tile heights and powers of two below rows, then rows
        self.tiles = tuple(sorted({h for h in (*CELL_ROWS, *(1 << i for i in range(8))) if h < self.rows}
                                  | {self.rows})) \
            if self.level_tiles else (self.rows,)

    def to_dict(self):
        return {k: getattr(self, k) for k in (*self.SWITCHES, "rows", "block_vectors", "register_tile", "unroll")}

    def __repr__(self):
        return "Options(" + ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items()) + ")"


def _whole(name, v, most, what):
    if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= most:
        raise ModelError(f"recursive compile: {name}={v!r}; give {what}")


def compile(model, target=None, **options):  # noqa: A001 - the verb users know
    """A CompiledModel running `model` (alt.recursive.RecursiveModel) on batches of structures,
    compiled for `target` (default: the target in effect), with `options` (see Options: the
    recursion switches, all on by default, and the cell knobs)."""
    from ..target import resolve
    from .model import RecursiveModel
    if not isinstance(model, RecursiveModel):
        raise ModelError(f"recursive compile: the model is {type(model).__name__} {str(model)[:40]!r}, not a "
                         "RecursiveModel; build one with alt.recursive.models (e.g. models.tree_lstm(hidden=256))")
    target = resolve(target)
    if target.kind == "cuda":  # one persistent kernel (alt.recursive.gpu)
        from .gpu import compile_cuda
        return compile_cuda(model, target, options)
    bad = sorted(set(options) - set(inspect.signature(Options).parameters))
    if bad:
        raise ModelError(f"recursive compile: no option {bad[0]!r}; the options are {Options().to_dict()}")
    with target:
        opts = Options(**options)
        if opts.refactor and not projections(model):
            raise ModelError(f"recursive compile: refactor=True, but model {model.name}'s internal cell has no "
                             "projection to move (write W @ h_child as cell.project(k, 'W'))")
        if opts.unroll > 1 and model.kind == "dag":
            raise ModelError(f"recursive compile: unroll={opts.unroll} needs trees or sequences; model {model.name} "
                             "walks DAGs, whose nodes may have several parents")
        return _compile(model, opts, target)


def _compile(model, opts, target):
    from codegen import compile_c
    from codegen.recursive import RecursiveSpec, render

    from ..target import cannot_run
    t0 = time.perf_counter()
    packed = _Packer()
    spec = RecursiveSpec(k=model.max_children, state_size=model.state_size, rows=opts.rows,
                         tree=model.kind != "dag", specialize=opts.leaf_specialization, hoist=opts.hoist,
                         out_offset=model.offsets[model.output], out_size=model.states[model.output],
                         tiles=opts.tiles, unroll=opts.unroll,
                         proj_size=sum(projections(model).values()) if opts.refactor else 0)
    for name, table in model.inputs.items():  # one extra row of zeros for nodes without a word
        spec.inputs[name] = (table.shape[1], packed.add(np.vstack([table, np.zeros((1, table.shape[1]), "f4")])),
                             model.vocab)
    kinds = ("leaf", "internal", "proj") if opts.refactor else ("leaf", "internal")
    cells = [_cell(model, which, rows, opts, packed) for rows in reversed(opts.tiles) for which in kinds]
    t1 = time.perf_counter()
    source, layout = render(spec, cells, target)
    path = compile_c(source, target, what=f"recursive model {model.name}")
    net = CompiledModel(model, opts, source, str(path), layout, packed.buffer(),
                        {"schedule+lower": t1 - t0, "render+gcc": time.perf_counter() - t1})
    net._foreign = cannot_run(target, f"recursive model {model.name}")
    return net


def _cell(model, which, rows, opts, packed):
    """The CellCode of `model`'s `which` cell for tiles of `rows` nodes; its weights packed."""
    from codegen.recursive import CellCode
    if which == "proj":
        cell, state = projection_definition(model, rows)
    else:
        cell, state = cell_definition(model, which, rows, refactor=opts.refactor)
    s = schedule_cell(state, opts.fusion, opts.block_vectors, opts.blocked_weights, opts.register_tile)
    args, kinds = _cell_code(model, cell, state, s, packed)
    return CellCode(which, lower(s, args, name=f"{model.name}_{which}_{rows}"), kinds, rows)


def _cell_code(model, cell, state, s, packed):
    """(arguments, what each is) of a scheduled cell: children, inputs, weights (packed in the
    layouts schedule `s` gives them) and the state; lookups the cell does not read are left out."""
    args, kinds = [], []
    for k, t in sorted(cell.children.items()):
        args.append(t)
        kinds.append(("child", k))
    for k, t in sorted(cell.projected.items()):
        args.append(t)
        kinds.append(("proj", k))
    if cell.own_state is not None:
        args.append(cell.own_state)
        kinds.append(("self",))
    for name, t in cell.input_tensors.items():
        args.append(t)
        kinds.append(("input", name))
    for name, t in cell.weight_tensors.items():
        args.append(t)
        kinds.append(("weight", packed.add(s.layout_of(t).to_physical(model.weights[name]))))
    used = {id(t) for t in topo_order([state]) if isinstance(t.op, PlaceholderOp)}
    keep = [i for i, t in enumerate(args) if id(t) in used]  # unused lookups are not arguments
    return [args[i] for i in keep] + [state], [kinds[i] for i in keep] + [("state",)]


class _Packer:
    """One float32 buffer of every weight and table, each at a 64-byte aligned offset (in floats)."""

    def __init__(self):
        self.parts, self.size, self.seen = [], 0, {}

    def add(self, array):
        a = np.ascontiguousarray(array, dtype=np.float32).ravel()
        key = (a.size, a.tobytes())
        if key in self.seen:  # the same packed weight used by both cells is stored once
            return self.seen[key]
        off = self.size
        self.parts.append(a)
        pad = -a.size % 16
        if pad:
            self.parts.append(np.zeros(pad, np.float32))
        self.size += a.size + pad
        self.seen[key] = off
        return off

    def buffer(self):
        return buffers.aligned(np.concatenate(self.parts) if self.parts else np.zeros(16, np.float32))


class CompiledModel:
    """net(batch) -> (len(batch), output size) float32: the output state of each structure's root.

    A batch is a list of structures (nested tuples, alt.recursive.Tree, alt.recursive.DAG, or
    (child, word) integer arrays); one C call linearizes the whole batch and runs every node.
    Trees (Tree with int32 arrays, and nested tuples, read from their repr) go to C as they are and
    are checked there; anything else, and any batch C finds wrong, takes the Python path, where
    every array is checked (dtype, shape, index range) and a bad one is a StructureError naming the
    structure. Thread-safe: concurrent calls from several threads each use a workspace of their own
    thread."""

    def __init__(self, model, options, source, path, layout, weights, stats):
        from codegen.program import Workspace, load_library
        from codegen.recursive import SIGNATURE, workspace_bound
        self.model, self.options, self.source, self.stats = model, options, source, stats
        self._layout, self._weights = layout, weights
        self._ffi, self._lib = load_library(path, "alt_model", signature=SIGNATURE)
        self._workspace = Workspace(64)  # one per calling thread
        self._bound = workspace_bound(layout)
        self._w = self._ffi.cast("float*", weights.ctypes.data)
        self._out_size = model.states[model.output]
        self._foreign = None  # the TargetError of a model compiled for a CPU this one is not

    def __call__(self, batch):
        return self._trees(batch, 0)

    def _ws(self, n):
        """This thread's workspace for n nodes, as a char*."""
        return self._ffi.cast("char*", self._workspace.address(self._bound[0] * n + self._bound[1]))

    def _trees(self, batch, linearize_only):
        """The C path for a batch of trees; the Python path (prepare, run) for anything else."""
        if self._foreign:
            raise self._foreign
        if type(batch) is not list or not batch:
            return self.run(self.prepare(batch), linearize_only)
        parents, words = [], []
        for x in batch:
            t = type(x)
            if t is Tree:
                p, w = x.parent, x.word
                if p.dtype != _I32 or w.dtype != _I32 or p.ndim != 1 or w.shape != p.shape or \
                        not (p.flags.c_contiguous and w.flags.c_contiguous):
                    return self.run(self.prepare(batch), linearize_only)
            elif t is tuple and not (len(x) == 2 and type(x[0]) is np.ndarray) or t is list or t is int:
                p, w = self._parse(x)
                if p is None:
                    return self.run(self.prepare(batch), linearize_only)
            else:
                return self.run(self.prepare(batch), linearize_only)
            parents.append(p)
            words.append(w)
        m = len(batch)
        f = self._ffi.from_buffer
        if m == 1:
            parent, word, n, starts = parents[0], words[0], len(words[0]), self._ffi.NULL
        else:
            parent, word = np.concatenate(parents), np.concatenate(words)
            starts = np.zeros(m + 1, np.int32)
            np.cumsum([len(w) for w in words], out=starts[1:])
            n, starts = len(word), f("int[]", starts)
        if n == 0:
            return self.run(self.prepare(batch), linearize_only)
        out = np.empty((m, self._out_size), np.float32)  # written once per root: alignment does not matter
        bad = self._ffi.new("int*")
        rc = self._lib.alt_model_trees(n, m, f("int[]", parent), starts, f("int[]", word), f("float[]", out),
                                       self._w, self._ws(n), bad, linearize_only)
        if rc:  # the Python path names what is wrong
            self.prepare(batch)
            raise StructureError(f"model {self.model.name}: node {bad[0]} of the batch (numbered across the "
                                 f"batch's structures in order) {LINEARIZE_ERRORS.get(rc, f'is wrong (code {rc})')}")
        return out

    def _parse(self, tree):
        """(parent, word) int32 arrays of a nested-tuple tree, parsed in C from its repr; (None, None)
        where C does not accept it (the Python path then says why)."""
        try:
            text = repr(tree).encode()
        except RecursionError:  # deeper than Python's repr goes: the Python path says how to give it
            return None, None
        cap = len(text) // 2 + 1  # every node takes at least two characters, but a one-digit leaf alone
        parent, word = np.empty(cap, np.int32), np.empty(cap, np.int32)
        f = self._ffi.from_buffer
        n = self._lib.alt_parse_nested(text, len(text), f("int[]", parent), f("int[]", word), cap)
        return (parent[:n], word[:n]) if n > 0 else (None, None)

    def prepare(self, batch):
        """(child, word, roots) arrays of a batch, checked in Python: the path for DAGs and child arrays."""
        return prepare_batch(self.model, batch)

    def run(self, prepared, linearize_only=False):
        if self._foreign:
            raise self._foreign
        child, word, roots = prepared
        out = np.empty((len(roots), self._out_size), np.float32)
        bad = np.zeros(1, np.int32)
        c = self._ffi.cast
        rc = self._lib.alt_model(len(word), c("int*", child.ctypes.data), c("int*", word.ctypes.data), len(roots),
                                 c("int*", roots.ctypes.data), c("float*", out.ctypes.data), self._w,
                                 self._ws(len(word)), c("int*", bad.ctypes.data), int(linearize_only))
        if rc:
            why = LINEARIZE_ERRORS.get(rc, f"made the generated code fail (code {rc})")
            raise StructureError(f"model {self.model.name}: node {int(bad[0])} of the batch (numbered "
                                 f"across the batch's structures in order) {why}")
        return out

    def linearize(self, batch):
        """Only the linearization of net(batch): the checks and the C pass, no cell."""
        self._trees(batch, 1)


def prepare_batch(model, batch):
    """(child, word, roots) int32 arrays of a batch of structures, checked: a StructureError names
    the structure and what is wrong."""
    if not isinstance(batch, list):  # a tuple would be ambiguous with a nested-tuple tree
        raise StructureError(f"model {model.name}: a batch must be a list of structures, got "
                             f"{type(batch).__name__}; wrap a single tree as [tree]")
    child, word, roots = concat([to_arrays(x, f"model {model.name}: structure {i} of the batch")
                                 for i, x in enumerate(batch)], model.max_children)
    if model.inputs:
        bad = np.flatnonzero((word < -1) | (word >= model.vocab))
        if bad.size:
            i = int(bad[0])
            raise StructureError(f"model {model.name}: node {i} has word index {int(word[i])}; the input "
                                 f"tables have {model.vocab} rows (use -1 for a node without input)")
    return child, word, roots


_I32 = np.dtype(np.int32)
