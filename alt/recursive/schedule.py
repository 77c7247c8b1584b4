"""Schedules of a cell's tile definition: fused (every gate and the elementwise tail in one loop nest
per block of rows) or unfused (each operator its own loop nest, intermediates in memory), and the
pre-transformed weight layouts."""
from .. import expr as E
from ..ops.default import _width, schedule_stage
from ..schedule import create_schedule
from ..tensor import PlaceholderOp

ROWS = 4  # rows of a register tile, and the rows of the fused loop's block


def schedule_cell(state, fusion=True):
    s = create_schedule(state)
    _transpose_weights(s, state)
    for st in list(s.stages):
        if st.op.tag == "view" or (fusion and not st.reduce_axis and st.tensor is not state):
            st.compute_inline()
    if not fusion:
        for st in list(s.stages):
            if st.attach is None:
                schedule_stage(s, st)
        return s
    out = s[state]
    n, j = out.axis
    no, ni = out.split(n, factor=ROWS)
    jo, ji = out.split(j, factor=_width(out))
    out.reorder(no, ni, jo, ji)
    out.vectorize(ji)
    out.parallel(no)
    consumers = _consumers(s)
    for st in list(s.stages):
        if st.attach is not None or st.tensor is state or not st.reduce_axis:
            continue
        if consumers.get(id(st.tensor)) == [id(state)] and len(st.axis) == 2:
            _register_tile(s, st)
            st.compute_at(out, no)
        else:  # read by several stages (or not a matrix): computed for the whole tile first
            schedule_stage(s, st)
    return s


def _register_tile(s, st):
    """A 4-row x 64-column accumulator tile for a reduction computed inside the fused loop."""
    width = _width(st)
    local = s.cache_write(st.tensor)
    u, v = st.axis
    uo, ui = st.split(u, factor=ROWS)
    vo, vi = st.split(v, factor=4 * width)
    st.reorder(uo, vo, ui, vi)
    st.vectorize(vi)
    s[local].compute_at(st, vo)
    lt = s[local]
    lu, lv = lt.axis
    lt.reorder(*lt.reduce_axis, lu, lv)
    lt.vectorize(lv)
    lt.unroll(lu)


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


def _transpose_weights(s, state):
    """Store a 2-d weight read as W[j, k] (k a reduction axis) as W[k, j], so that the vectorized
    output loop reads it contiguously: weights are packed once, pre-transformed."""
    done = set()
    for st in s.stages:
        for e in E.walk(st.op.body):
            if not (isinstance(e, E.Read) and isinstance(e.tensor.op, PlaceholderOp)
                    and e.tensor.name.startswith("W_") and e.tensor.ndim == 2 and id(e.tensor) not in done):
                continue
            first, last = (_reduce_vars(i) for i in e.indices)
            if last and not first:
                s.layout(e.tensor).reorder(1, 0)
                done.add(id(e.tensor))


def _reduce_vars(index):
    return [v for v in E.walk(index) if isinstance(v, E.IterVar) and v.kind == "reduce"]
