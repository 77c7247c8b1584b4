"""A sensible untuned schedule: inline elementwise intermediates, parallel outer, vector inner.

Every root stage gets: its last spatial axis split by the vector width and vectorized, the
reduction loops moved just outside that last axis, and the leading spatial loops fused (until
there are enough iterations to share) and parallelized. A row reduction whose output would only
vectorize by gathering (softmax, layer norm, a norm) is first rfactored along its contiguous reduce
axis (rfactor_axis). A single output that softmax, layer norm and the like make (row_fusable) is
instead row-fused: one parallel loop over tiles of rows, each computing its reductions just before
the rows that read them (row_fused). Never a naive loop nest. The vector width,
the register tile and the cores come from the target in effect (alt.target.current()).
"""
import math

from .. import expr as E
from ..dtypes import to_numpy
from ..schedule import Schedule, create_schedule
from ..target import current

WORK_PER_CORE = 32  # parallel iterations per core the fused outer loop aims for


def default_schedule(outputs):
    """A schedule of `outputs` (tensors, or a Schedule whose layouts are already chosen)."""
    s = outputs if isinstance(outputs, Schedule) else create_schedule(outputs)
    if len(s.outputs) == 1 and id(s.outputs[0]) not in s.layouts and row_fusable(s, s.outputs[0]) \
            and not any(st.is_scheduled or st.attach is not None for st in s.stages):
        return row_fused(s, s.outputs[0], *row_fused_default(s.outputs[0]))
    for st in list(s.stages):
        if st.op.tag == "injective" and not any(st.tensor is t for t in s.outputs) \
                and id(st.tensor) not in s.layouts:
            st.compute_inline()
    rfactor_rows(s)
    for st in list(s.stages):  # scheduling a reduction adds its local accumulator stage
        if st.attach is None:
            schedule_stage(s, st)
    return s


def rfactor_rows(s, vectors=1):
    """rfactor every root stage that rfactor_axis picks into `vectors` vectors of partial results
    (times the cores where the output has fewer elements than cores, so that the partials also run
    in parallel), where the reduce axis is at least that long."""
    cores = current().cores
    for st in list(s.stages):
        k = rfactor_axis(s, st, _width(st))
        factor = _width(st) * vectors * (cores if _extent(st.axis) < cores else 1)
        if k is not None and k.extent >= factor:
            s.rfactor(st.tensor, k, factor)


def rfactor_axis(s, st, lanes):
    """The reduce axis of root stage `st` that rfactor should split (TVM's rfactor: partial results
    side by side along the reduce axis, then reduced), or None. A reduction over a last reduce axis
    of at least two vectors qualifies where its output cannot be vectorized well:
    - an output's last axis narrower than a vector (NRM's total);
    - or every vector along the output's last axis would gather: some input is read contiguously
      along the reduce axis (its last index is that axis, in its logical layout) but not along the
      output's last axis (softmax's and layer norm's row reductions of a 3-d or 2-d input, which
      otherwise read one float per row and vector lane). A contraction (an operand the output's last
      axis does not index, as X in a dense layer) is register-tiled instead."""
    if not st.is_reduction or st.attach is not None or st.is_scheduled:
        return None
    k = st.op.reduce_axis[-1]
    if k.extent < 2 * lanes:
        return None
    if st.axis[-1].extent < lanes:
        return k
    last = st.op.axis[-1]
    contiguous = False
    for r in E.walk(st.op.body):
        if not isinstance(r, E.Read) or id(r.tensor) in s.layouts:
            continue
        uses = [{id(v) for v in E.walk(i) if isinstance(v, E.Var)} for i in r.indices]
        if not any(id(k) in u for u in uses):
            continue  # read once per output element, not in the reduction's loop
        if id(last) in uses[-1]:
            return None  # this read is contiguous along the output's last axis: vectorize that
        if not any(id(last) in u for u in uses):
            return None  # an operand shared along the output's last axis (a contraction): register-tile it
        contiguous |= r.indices[-1] is k and any(id(last) in u for u in uses[:-1])
    return k if contiguous else None


def row_fusable(s, out):
    """Can `out` be row-fused (row_fused): an output of two or more axes whose other stages are
    reductions over its rows (shape: all its axes but the last) or elementwise stages of its shape
    that a reduction reads, as in softmax and layer norm?"""
    if len(out.shape) < 2 or s[out].is_reduction or not any(st.is_reduction for st in s.stages):
        return False
    rows = tuple(out.shape[:-1])
    for st in s.stages:
        if st.tensor is out or st.attach == "inline":
            continue
        if st.is_reduction:
            if tuple(st.tensor.shape) != rows:
                return False
        elif not (st.op.tag == "injective" and tuple(st.tensor.shape) == tuple(out.shape)
                  and any(r.is_reduction for r in s.readers(st.tensor))):
            return False
    return True


def row_fused_default(out):
    """row_fused's (row_tile, vectors) when no one chose them (measured on softmax and layer norm of
    rows from 64 to 4096 floats):
    - rows per tile: up to 8, while every core still gets 4 tiles to share and a tile's rows fill at
      most a quarter of L1 (they are read again by every stage of the tile, beside its exponentials);
    - vectors of partials: 4 or 2 where each still runs at least 16 iterations of a row (independent
      accumulators hide the add's latency; on short rows they would mostly be empty), else 1."""
    target = current()
    cores, width = target.cores, target.lanes(out.dtype)
    rows, row = math.prod(out.shape[:-1]), out.shape[-1]
    row_bytes = row * to_numpy(out.dtype).itemsize
    tile = next(t for t in (8, 4, 2, 1) if t == 1 or (rows // t >= 4 * cores and t * row_bytes <= target.l1 // 4))
    return tile, next(v for v in (4, 2, 1) if v == 1 or row >= 16 * v * width)


def row_fused(s, out, row_tile, vectors=1):
    """Every stage of `out` computed inside its parallel tile of `row_tile` rows, as a hand-written
    softmax or layer norm is: one parallel loop, each tile's reductions (rfactored along their
    contiguous reduce axis into `vectors` vectors of partials) and exponentials computed just before
    the rows that read them, while they are in cache. Elementwise stages a reduction reads are kept
    (computed once a tile), the others inlined. See row_fusable for the graphs it takes."""
    width = _width(s[out])
    for st in list(s.stages):
        if st.op.tag == "injective" and st.tensor is not out \
                and not any(r.is_reduction for r in s.readers(st.tensor)):
            st.compute_inline()
    partials = set()
    for st in list(s.stages):
        k = st.op.reduce_axis[-1] if st.is_reduction and st.attach is None else None
        if k is not None and k.extent >= 2 * width * vectors:
            partials.add(id(s.rfactor(st.tensor, k, width * vectors)))
    o = s[out]
    *lead, last = o.axis
    ro, ri = o.split(lead[-1], factor=row_tile) if lead[-1].extent > row_tile else (lead[-1], None)
    at = o.fuse(*lead[:-1], ro) if len(lead) > 1 else ro
    _vector_last(o, [at] + ([ri] if ri is not None else []), last)
    o.parallel(at)
    for st in reversed(list(s.stages)):  # readers first: a stage goes inside once all its readers are
        if st is o or st.attach is not None:
            continue
        st.compute_at(o, at)
        if id(st.tensor) in partials:  # an rfactor stage: its partials side by side in vectors
            *spatial, lane = st.axis
            st.reorder(*spatial, *st.reduce_axis, lane)
            st.vectorize(lane)
        elif not st.reduce_axis:
            _vector_last(st, st.axis[:-1], st.axis[-1])
    return s


def _vector_last(st, outer, last):
    """Loops `outer`, then `last` split by the vector width with its inner part vectorized."""
    width = _width(st)
    inner = list(st.split(last, factor=width)) if last.extent > width else [last]
    st.reorder(*outer, *inner)
    if inner[-1].extent > 1:
        st.vectorize(inner[-1])


def schedule_stage(s, st, row_tile=None, vectors=None, fuse=None, unroll=True):
    """Parallel outer / vectorized inner loops for one root stage that has not been scheduled.

    A reduction with two or more output axes accumulates a tile of `row_tile` rows of up to
    `vectors` vectors in a local buffer (cache_write + compute_at), so that its partial sums stay
    in registers (default: the target's register tile). `fuse` outer loops are fused for the
    parallel loop (default: until there are WORK_PER_CORE iterations per core); `unroll` unrolls
    the tile's rows. The tuner's generic space sets these knobs.
    """
    if st.reduce_axis and len(st.axis) >= 2 and not st.is_scheduled:
        rows, vecs = current().register_tile()
        return _register_tiled(s, st, row_tile or rows, vectors or vecs, fuse, unroll)
    return _parallel_vector(st, fuse)


def _fuse_count(loops, fuse):
    if fuse is not None:
        return max(1, min(fuse, len(loops)))
    n = 1
    while n < len(loops) and _extent(loops[:n]) < WORK_PER_CORE * current().cores:
        n += 1
    return n


def _parallel_vector(st, fuse=None):
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
    if axes:
        # fuse only what is needed for enough parallel work; keep inner loops for locality
        n = _fuse_count(axes, fuse)
        st.parallel(st.fuse(*axes[:n]) if n > 1 else axes[0])
    elif len(inner) == 2 and not st.reduce_axis:
        st.parallel(inner[0])
    return st


def _extent(axes):
    return math.prod(a.extent for a in axes)


def _width(st):
    """Lanes of one vector of the stage's dtype on the target in effect."""
    return current().lanes(st.tensor.dtype)


def _register_tiled(s, st, row_tile, vectors, fuse, unroll):
    width = _width(st)
    local = s.cache_write(st.tensor)
    axes = list(st.axis)
    v, u = axes.pop(), axes.pop()
    outer, inner = [], []
    for ax, tile in ((u, row_tile), (v, vectors * width)):
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
        n = _fuse_count(loops, fuse)
        st.parallel(st.fuse(*loops[:n]) if n > 1 else loops[0])
        at = st.leaves[st.leaves.index(inner[0]) - 1]
        s[local].compute_at(st, at)
        lt = s[local]
        *lead, lu, lv = lt.axis
        lt.reorder(*lead, *lt.reduce_axis, lu, lv)
        if lv.extent > 1:
            lt.vectorize(lv)
        if unroll:
            lt.unroll(lu)
    else:  # a tiny output: one tile, computed at root
        _parallel_vector(s[local], fuse)
    return st
