"""A sensible untuned schedule: inline elementwise intermediates, parallel outer, vector inner.

Every root stage gets: its last spatial axis split by the vector width and vectorized, the
reduction loops moved just outside that last axis, and the leading spatial loops fused (until
there are enough iterations to share) and parallelized. Never a naive loop nest.
"""
from ..schedule import Schedule, create_schedule

VECTOR_BYTES = 64  # one AVX-512 register


def default_schedule(outputs):
    """A schedule of `outputs` (tensors, or a Schedule whose layouts are already chosen)."""
    s = outputs if isinstance(outputs, Schedule) else create_schedule(outputs)
    for st in list(s.stages):
        if st.op.tag == "injective" and not any(st.tensor is t for t in s.outputs) \
                and id(st.tensor) not in s.layouts:
            st.compute_inline()
    for st in list(s.stages):  # scheduling a reduction adds its local accumulator stage
        if st.attach is None:
            schedule_stage(s, st)
    return s


ROW_TILE, VECTORS_PER_ROW = 4, 4  # register tile of a reduction: 4 rows of up to 4 vectors


def schedule_stage(s, st):
    """Parallel outer / vectorized inner loops for one root stage that has not been scheduled.

    A reduction with two or more output axes accumulates a tile of ROW_TILE rows of up to
    VECTORS_PER_ROW vectors in a local buffer (cache_write + compute_at), so that its partial sums
    stay in registers.
    """
    if st.reduce_axis and len(st.axis) >= 2 and not st.is_scheduled:
        return _register_tiled(s, st)
    return _parallel_vector(st)


def _parallel_vector(st):
    width = _width(st)
    axes = list(st.axis)
    last = axes.pop()
    inner = [last]
    if last.extent > width:
        inner = list(st.split(last, factor=width))
    vec = inner[-1]
    # reductions go outside the whole last axis (the i-k-j order of GEMM): the inner loops then
    # stream contiguous rows and accumulate into one output row that stays in cache
    st.reorder(*axes, *st.reduce_axis, *inner)
    if vec.extent > 1:
        st.vectorize(vec)
    if len(axes) > 1:
        # fuse only what is needed for enough parallel work; keep inner loops for locality
        n = 1
        while n < len(axes) and _extent(axes[:n]) < 64:
            n += 1
        par = st.fuse(*axes[:n]) if n > 1 else axes[0]
        st.parallel(par)
    elif axes:
        st.parallel(axes[0])
    elif len(inner) == 2 and not st.reduce_axis:
        st.parallel(inner[0])
    return st


def _extent(axes):
    e = 1
    for a in axes:
        e *= a.extent
    return e


def _width(st):
    from ..dtypes import to_numpy
    return VECTOR_BYTES // to_numpy(st.tensor.dtype).itemsize


def _register_tiled(s, st):
    width = _width(st)
    local = s.cache_write(st.tensor)
    axes = list(st.axis)
    v, u = axes.pop(), axes.pop()
    outer, inner = [], []
    for ax, tile in ((u, ROW_TILE), (v, VECTORS_PER_ROW * width)):
        if ax.extent > tile:
            o, i = st.split(ax, factor=tile)
            outer.append(o)
            inner.append(i)
        else:
            inner.append(ax)
    st.reorder(*axes, *outer, *inner)
    if inner[-1].extent > 1:
        st.vectorize(inner[-1])
    loops = axes + outer
    if loops:
        n = 1
        while n < len(loops) and _extent(loops[:n]) < 64:
            n += 1
        st.parallel(st.fuse(*loops[:n]) if n > 1 else loops[0])
        at = st.leaves[st.leaves.index(inner[0]) - 1]
        s[local].compute_at(st, at)
        lt = s[local]
        *lead, lu, lv = lt.axis
        lt.reorder(*lead, *lt.reduce_axis, lu, lv)
        if lv.extent > 1:
            lt.vectorize(lv)
        lt.unroll(lu)
    else:  # a tiny output: one tile, computed at root
        _parallel_vector(s[local])
    return st
