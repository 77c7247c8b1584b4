"""Schedules of a cell's tile definition, and the pre-transformed weight layouts.

fused: the state's hidden units are cut into blocks of a few vectors, shared among the cores;
for each block every gate the block needs (each matrix product read only by the tail) is computed
in a register tile right there, then the whole elementwise tail. Each core streams only its own
slice of the weights, and gates never leave the cache. This needs the gates' hidden axis last and
the state as (rows, states, hidden) or (rows, hidden); other cells (MV-RNN's matrix state) are
fused by blocks of rows instead.
unfused: each operator of the cell is its own loop nest over the tile (alt's default schedule),
intermediates through memory.
The vector width is the target's (alt.target.current()), and the register tile (rows x vectors of
accumulators) follows from its registers (cell_register_tile).
"""
import math

import numpy as np

from .. import expr as E
from ..lower import STACK_LIMIT
from ..ops.default import _width, schedule_stage
from ..schedule import create_schedule
from ..target import current
from ..tensor import PlaceholderOp

BLOCK_VECTORS = 4  # vectors of hidden units per block of a fused cell without matrix products
CELL_ROWS = (1, 2, 3, 4, 6, 8)  # register tile rows a cell may take: its tile of nodes need not be a power of two
CELL_VECTORS = (1, 2, 4)
SPARE = 4  # registers a cell's register tile leaves free: operand vectors (or memory operands) and the broadcast


def cell_register_tile(target=None, rows=None, streams=1, reuse=True):
    """The default register tile (rows, vectors) of a matrix product in a cell of `rows` nodes
    (None: a tall tile) on `target` (default: the target in effect). Its reduction sums `streams`
    products a step (TreeFC's W [h_l; h_r]: 2); with `reuse`, each vector operand serves every row
    of the tile (a weight shared by the nodes), else one (MV-RNN's M_r v_l).

    Among cell_register_tiles: the most accumulators doing useful work (a tile of r rows takes
    ceil(rows / r) passes over `rows` nodes), then the fewest loads per useful multiply-add, then
    more rows. A step loads the weights' streams x v vectors once where they fit in the registers
    beside the accumulators and the broadcast (else every multiply-add reads its operand from
    memory), and broadcasts streams x r activations. On 16 registers, tall tiles: 6 x 2 for one
    shared stream (8 loads a step where 3 x 4 needs 15: 1.2-1.3x faster on a Zen 3's wide levels
    of TreeLSTM and TreeGRU), 3 x 4 for two (6 x 2 was 0.9-1.0x there) or unshared ones; 3, 2
    and 1 nodes: 3 x 4, 2 x 4, 1 x 4. On 32 registers: 6 x 4."""
    regs = (target or current()).registers

    def rank(tile):
        r, v = tile
        passes, useful = (-(-rows // r), rows) if rows else (1, r)
        weights = streams * v if reuse and r * v + streams * v + 1 <= regs else streams * r * v
        loads = passes * (weights + streams * r)
        return -useful * v / passes, loads / (streams * useful * v), -r
    return min([t for t in cell_register_tiles(target) if rows is None or t[0] <= rows], key=rank)


def cell_rows(target=None):
    """The default tile height of a cell (nodes a full tile): two passes of the tall register tile,
    so that each weight block a core streams serves two register tiles (12 nodes on 16 or 32
    registers: 1.03-1.1x over one pass on a Zen 3's wide levels)."""
    return 2 * cell_register_tile(target)[0]


def cell_register_tiles(target=None):
    """Every (rows, vectors) register tile a cell may take on `target`: those that leave SPARE
    registers free (the tuner's choices; cell_register_tile picks the default among them)."""
    regs = (target or current()).registers
    return [(r, v) for r in CELL_ROWS for v in CELL_VECTORS if r * v + SPARE <= regs] or [(1, 1)]


def schedule_cell(state, fusion=True, block_vectors=None, blocked_weights=True, tile=None):
    """The schedule of a cell's state tensor: fused (see the module's doc) by blocks of
    `block_vectors` vectors of hidden units (default: the widest register tile of its products, so
    that a block's weight panel is one tile wide and stays in cache for the tile's second pass: 2
    vectors for TreeGRU and TreeLSTM on 16 registers, 1.05-1.1x on wide levels of a Zen 3), its
    weights stored blocked (one stream per block) or only transposed; `tile` (rows, vectors) the
    accumulator tile of every product (default: each its own, cell_register_tile for the cell's rows)."""
    s = create_schedule(state)
    transposed = _transpose_weights(s)
    costly = _read_by_reductions(s) if fusion else set()
    for st in list(s.stages):
        if st.op.tag == "view" or (fusion and not st.reduce_axis and st.tensor is not state
                                   and id(st.tensor) not in costly):
            st.compute_inline()
    for st in list(s.stages):  # kept out of a matrix product's inner loop: computed once per element
        if id(st.tensor) in costly:
            if any(isinstance(x, E.Call) for x in E.walk(st.op.body)):
                schedule_stage(s, st)
            else:  # a few adds a node: not worth waking the other cores for
                _vectorized(st)
    if not fusion:
        for st in list(s.stages):
            if st.attach is None:
                schedule_stage(s, st)
        return s
    out = s[state]
    hidden = state.shape[-1]
    nodes = state.shape[0]  # of a block
    if block_vectors is None:  # the widest register tile of the products: a block's weight panel is one tile wide
        block_vectors = tile[1] if tile else max(
            [_default_tile(st, nodes)[1] for st in s.stages if st.reduce_axis and len(st.axis) >= 2
             and st.tensor.shape[-1] == hidden], default=BLOCK_VECTORS)
    block = block_vectors * _width(out)
    by_columns = hidden % block == 0 and hidden // block >= 2
    n, *mid, j = out.axis
    if by_columns and blocked_weights:
        _block_weights(s, transposed, hidden, block)
        jo, ji = out.split(j, factor=block)
        jio, jii = out.split(ji, factor=_width(out))
        out.reorder(jo, n, *mid, jio, jii)
        out.vectorize(jii)
        out.parallel(jo)
        at = jo
    else:  # a block of nodes a core
        nodes = -(-nodes // current().cores)
        at, ni = out.split(n, factor=nodes)
        jo, ji = out.split(j, factor=_width(out))
        out.reorder(at, ni, *mid, jo, ji)
        out.vectorize(ji)
        out.parallel(at)
    consumers = _consumers(s)
    for st in list(s.stages):
        if st.attach is not None or st.tensor is state or not st.reduce_axis:
            continue
        # a gate block of the state block: its hidden axis is the state's (by columns), or any matrix (by rows)
        fits = st.tensor.shape[-1] == hidden if by_columns else len(st.axis) == 2
        # its tile in the block: the block's nodes and columns (MV-RNN's matrix state: nodes x H x columns)
        region = [nodes, *st.tensor.shape[1:-1], block if by_columns and blocked_weights else st.tensor.shape[-1]]
        small = math.prod(region) * np.dtype(st.tensor.dtype).itemsize <= STACK_LIMIT
        if consumers.get(id(st.tensor)) == [id(state)] and fits and small:
            _register_tile(s, st, tile or _default_tile(st, nodes))
            st.compute_at(out, at)
        else:  # read by several stages, or too large for a local tile: computed for the whole tile first
            schedule_stage(s, st)
    return s


def unfused_products(s, state):
    """Names of the matrix products (reductions, or the stages a cache_write took the reduction
    from) that schedule `s` of `state` computes at root: for the whole tile, outside the fused block."""
    products = {st.name for st in s.stages if st.reduce_axis} | {
        st.name[:-len(".local")] for st in s.stages if st.name.endswith(".local")}
    return {st.name for st in s.stages if st.name in products and st.attach is None and st.tensor is not state}


def _read_by_reductions(s):
    """Elementwise stages that compute (a math call, a sum of children ...) and that a reduction
    reads: inlined, they would be recomputed in the matrix product's inner loop, for every output
    column. Views (children's states) only read, and are always inlined."""
    out = set()
    for st in s.stages:
        if not st.reduce_axis:
            continue
        for e in E.walk(st.op.body):
            if isinstance(e, E.Read) and not isinstance(e.tensor.op, PlaceholderOp) and e.tensor.op.tag != "view" \
                    and not e.tensor.op.reduce_axis and _arithmetic(e.tensor.op.body):
                out.add(id(e.tensor))
    return out


def _vectorized(st):
    """A serial loop nest whose last axis is vectorized by the target's width."""
    *_, last = st.axis
    width = _width(st)
    if last.extent > width:
        st.vectorize(st.split(last, factor=width)[1])
    elif last.extent > 1:
        st.vectorize(last)


def _arithmetic(body):
    """Whether an elementwise stage's body computes values (a math call, a sum ...) rather than only
    reads them (index arithmetic inside a read does not count)."""
    if isinstance(body, E.Read):
        return False
    return isinstance(body, (E.Call, E.Binary, E.Select)) or any(_arithmetic(c) for c in body.children())


def _default_tile(st, nodes):
    """cell_register_tile for reduction stage `st` of a block of `nodes` nodes: the extent of its
    tile's row axis there, the products a step, and whether they reuse a vector across the rows."""
    reads, row = _vector_reads(st), _shared_axis(st)
    axis = st.axis[row]
    reuse = not any(E.uses(x, axis) for r in reads for x in r.indices)
    return cell_register_tile(rows=nodes if row == 0 else axis.extent, streams=len(reads), reuse=reuse)


def _register_tile(s, st, tile):
    """An accumulator tile (the target's register tile) for a reduction computed inside the fused loop. Its
    rows run along the axis that the vector-loaded operands do not depend on, so that each vector
    load feeds ROWS multiply-adds: the nodes for a weight matrix (gates), the matrix rows for a
    per-node matrix (MV-RNN's W_M M_l)."""
    width = _width(st)
    rows, vectors = tile
    row = _shared_axis(st)
    local = s.cache_write(st.tensor)
    *lead, v = st.axis
    u = lead.pop(row)
    uo, ui = st.split(u, factor=rows)
    vo, vi = st.split(v, factor=vectors * width)
    st.reorder(*lead, uo, vo, ui, vi)
    st.vectorize(vi)
    s[local].compute_at(st, vo)
    lt = s[local]
    *llead, lv = lt.axis
    lu = llead.pop(row)
    lt.reorder(*llead, *lt.reduce_axis, lu, lv)
    lt.vectorize(lv)
    lt.unroll(lu)


def _shared_axis(st):
    """Index of the output axis (not the last) that no operand read with the last axis depends on."""
    *lead, v = st.axis
    vector_reads = _vector_reads(st)
    for i in reversed(range(len(lead))):
        if not any(E.uses(x, lead[i]) for r in vector_reads for x in r.indices):
            return i
    return 0


def _vector_reads(st):
    """The reads of a reduction's body that its last (vectorized) axis indexes: the products a step."""
    v = st.axis[-1]
    return [e for e in E.walk(st.op.body) if isinstance(e, E.Read) and any(E.uses(i, v) for i in e.indices)]


def _consumers(s):
    """{id(tensor): [ids of the stages that read it]} after inlining."""
    out = {}
    for st in s.stages:
        if st.attach == "inline":
            continue
        for t in _reads(st, s):
            out.setdefault(id(t), []).append(id(st.tensor))
    return out


def _reads(st, s):
    seen, todo, found = set(), list(st.op.input_tensors), []
    while todo:
        t = todo.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        if not isinstance(t.op, PlaceholderOp) and s[t].attach == "inline":
            todo.extend(t.op.input_tensors)
        else:
            found.append(t)
    return found


def _transpose_weights(s):
    """Store a 2-d weight read as W[j, k] (k a reduction axis) as W[k, j], so that the vectorized
    output loop reads it contiguously: weights are packed once, pre-transformed. Returns them."""
    done, found = set(), []
    for st in s.stages:
        for e in E.walk(st.op.body):
            if not (isinstance(e, E.Read) and isinstance(e.tensor.op, PlaceholderOp)
                    and e.tensor.name.startswith("W_") and e.tensor.ndim == 2 and id(e.tensor) not in done):
                continue
            first, last = (_reduce_vars(i) for i in e.indices)
            if last and not first:
                s.layout(e.tensor).reorder(1, 0)
                done.add(id(e.tensor))
                found.append(e.tensor)
    return found


def _block_weights(s, weights, hidden, block):
    """Store each transposed weight (K, gates x hidden) as (hidden blocks, gates, K, block): the
    columns that one block of the fused loop nest reads for one gate, over every k, are one
    contiguous stream, so that each core streams its own slice of the weights front to back."""
    for t in weights:
        K, C = s.layout_of(t).shape
        if C % hidden == 0:
            s.layout(t).split(1, hidden).split(2, block).reorder(2, 1, 0, 3)


def _reduce_vars(index):
    return [v for v in E.walk(index) if isinstance(v, E.IterVar) and v.kind == "reduce"]
