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
    for st in s.stages:
        if st.attach is None:
            schedule_stage(s, st)
    return s


def schedule_stage(s, st):
    """Parallel outer / vectorized inner loops for one root stage that has not been scheduled."""
    from ..dtypes import to_numpy
    width = VECTOR_BYTES // to_numpy(st.tensor.dtype).itemsize
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
