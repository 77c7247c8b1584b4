"""The untuned GPU schedule: one thread per output element, blocks of the target's `threads`.

Elementwise intermediates are inlined (as on the CPU); every stage computed at root gets its
spatial loops fused, split by the CUDA target's threads per block, the outer part bound to
blockIdx.x and the inner to threadIdx.x. Reductions stay inside each thread (no thread loop over
a reduction: that needs rfactor). The tuner's GPU spaces start from here.
"""
from ..errors import OptionError, ScheduleError
from ..schedule import Schedule, create_schedule
from ..target import resolve


def gpu_schedule(outputs, target=None):
    """A GPU schedule of `outputs` (tensors, or a Schedule whose layouts are already chosen) for
    CUDA target `target` (default: the target in effect if it is a CUDA one, else 'cuda')."""
    t = resolve(target)
    if t.kind != "cuda":
        if target is not None:
            raise OptionError(f"gpu_schedule: target {t} is not a CUDA target; give 'cuda' or "
                              "alt.Target.parse('cuda -arch=sm_80')")
        t = resolve("cuda")
    s = outputs if isinstance(outputs, Schedule) else create_schedule(outputs)
    for st in list(s.stages):
        if st.op.tag == "injective" and not any(st.tensor is o for o in s.outputs) and id(st.tensor) not in s.layouts:
            st.compute_inline()
    for st in list(s.stages):
        if st.attach is None:
            bind_stage(st, t.threads)
    return s


def bind_stage(st, threads):
    """Fuse the spatial loops of root stage `st`, split them by `threads` and bind the parts to
    blockIdx.x and threadIdx.x (a stage smaller than a block runs as one block)."""
    spatial = [v for v in st.leaves if v.kind != "reduce"]
    reduce = [v for v in st.leaves if v.kind == "reduce"]
    if not spatial:
        raise ScheduleError(f"gpu_schedule: stage {st.name!r} has no spatial loop to bind (a 0-d result); give it "
                            "a dimension of extent 1")
    st.reorder(*spatial, *reduce)
    loop = st.fuse(*spatial) if len(spatial) > 1 else spatial[0]
    if loop.extent > threads:
        outer, inner = st.split(loop, factor=threads)
        st.bind(outer, "blockIdx.x")
        st.bind(inner, "threadIdx.x")
    else:
        st.bind(loop, "threadIdx.x")
    return st

