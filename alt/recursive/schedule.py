"""Schedules of a cell's tile definition, and the pre-transformed weight layouts.

fused: the state's hidden units are cut into blocks of BLOCK_VECTORS vectors, shared among the cores;
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
from .. import expr as E
from ..ops.default import _width, schedule_stage
from ..schedule import create_schedule
from ..target import current
from ..tensor import PlaceholderOp

BLOCK_VECTORS = 4  # vectors of hidden units per block of the fused loop nest (64 floats on AVX-512)
CELL_ROWS = (1, 2, 3, 4, 6, 8)  # register tile rows a cell may take: its tile of nodes need not be a power of two
CELL_VECTORS = (1, 2, 4)
SPARE = 4  # registers a cell's register tile leaves free: operand vectors (or memory operands) and the broadcast


def cell_register_tile(target=None):
    """The default register tile (rows, vectors) of a cell's matrix products on `target` (default:
    the target in effect): the most accumulators that leave SPARE registers free, then the fewest
    loads per multiply-add, with tiles of 3 and 6 rows allowed. 3 x 4 vectors on 16 registers
    (operators take 4 x 2; the weight vectors become memory operands), 6 x 4 on 32. On a Zen 3,
    tuned cells chose a tile of 12 accumulators for 13 of 16 models and batches, and 3 x 4 was
    1.1-1.5x faster than 4 x 2 on TreeFC, TreeGRU and TreeLSTM (MV-RNN-64: 0.9x)."""
    return max(cell_register_tiles(target), key=lambda t: (t[0] * t[1], -(t[0] + t[1]) / (t[0] * t[1]), t[0]))


def cell_register_tiles(target=None):
    """Every (rows, vectors) register tile a cell may take on `target`: those that leave SPARE
    registers free (the tuner's choices; cell_register_tile picks the default among them)."""
    regs = (target or current()).registers
    return [(r, v) for r in CELL_ROWS for v in CELL_VECTORS if r * v + SPARE <= regs] or [(1, 1)]


def schedule_cell(state, fusion=True, block_vectors=BLOCK_VECTORS, blocked_weights=True, tile=None):
    """The schedule of a cell's state tensor: fused (see the module's doc) by blocks of
    `block_vectors` vectors of hidden units, its weights stored blocked (one stream per block) or
    only transposed; `tile` (rows, vectors) the accumulator tile (default: cell_register_tile())."""
    s = create_schedule(state)
    transposed = _transpose_weights(s)
    costly = _read_by_reductions(s) if fusion else set()
    for st in list(s.stages):
        if st.op.tag == "view" or (fusion and not st.reduce_axis and st.tensor is not state
                                   and id(st.tensor) not in costly):
            st.compute_inline()
    for st in list(s.stages):  # kept out of a matrix product's inner loop: computed once per element
        if id(st.tensor) in costly:
            schedule_stage(s, st)
    if not fusion:
        for st in list(s.stages):
            if st.attach is None:
                schedule_stage(s, st)
        return s
    out = s[state]
    hidden = state.shape[-1]
    tile = tile or cell_register_tile()
    rows = tile[0]
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
    else:
        at, ni = out.split(n, factor=rows)
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
        if consumers.get(id(st.tensor)) == [id(state)] and fits:
            _register_tile(s, st, tile)
            st.compute_at(out, at)
        else:  # read by several stages: computed for the whole tile first
            schedule_stage(s, st)
    return s


def unfused_products(s, state):
    """Names of the matrix products (reductions, or the stages a cache_write took the reduction
    from) that schedule `s` of `state` computes at root: for the whole tile, outside the fused block."""
    products = {st.name for st in s.stages if st.reduce_axis} | {
        st.name[:-len(".local")] for st in s.stages if st.name.endswith(".local")}
    return {st.name for st in s.stages if st.name in products and st.attach is None and st.tensor is not state}


def _read_by_reductions(s):
    """Elementwise stages with a math call (exp, tanh ...) that a reduction reads: inlined, they
    would be recomputed for every output column of the matrix product."""
    out = set()
    for st in s.stages:
        if not st.reduce_axis:
            continue
        for e in E.walk(st.op.body):
            if isinstance(e, E.Read) and not isinstance(e.tensor.op, PlaceholderOp) \
                    and not e.tensor.op.reduce_axis and any(isinstance(x, E.Call) for x in E.walk(e.tensor.op.body)):
                out.add(id(e.tensor))
    return out


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
    vector_reads = [e for e in E.walk(st.op.body) if isinstance(e, E.Read) and any(E.uses(i, v) for i in e.indices)]
    for i in reversed(range(len(lead))):
        if not any(E.uses(x, lead[i]) for r in vector_reads for x in r.indices):
            return i
    return 0


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
