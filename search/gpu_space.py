"""The GPU search space: layouts and thread tiling of any suite operator on a CUDA target.

A point lays the output out (NCHW, NHWC or NCHW32c for 4-d outputs: which dimension a warp's
threads walk along decides whether their stores coalesce), then schedules every stage computed at
root: the last output axis split into `per_thread` consecutive elements computed by one thread
(unrolled or not), the remaining spatial loops fused with the outer part and split into blocks of
`threads` threads (blockIdx.x / threadIdx.x). With `local`, a reduction accumulates a thread's
elements in registers (cache_write, computed at the thread loop, the reduction loops outside the
register tile). Padding stages may be inlined into their reader. Shared-memory staging (cache_read
into "shared" with barriers) is not part of the space yet.
"""
from .space import GenericSpace, Invalid


class GPUSpace(GenericSpace):
    """GenericSpace's layouts and inlining, with thread tiling instead of CPU loops."""

    def __init__(self, workload, target=None):  # not GenericSpace.__init__: it reads a CPU vector width
        from alt.target import resolve
        self.workload = workload
        self.target = resolve(target)
        if self.target.kind != "cuda":
            raise Invalid(f"GPUSpace of {workload.name}: target {self.target} is not a CUDA target")
        _, out = workload.build()
        self.out_shape = out.shape
        layouts = ["default"]
        if len(out.shape) == 4:
            layouts.append("NHWC")
            if out.shape[1] % 32 == 0:
                layouts.append("NCHW32c")
        self.rank = len(out.shape)
        self.knobs = {"out_layout": layouts,
                      "threads": [t for t in (32, 64, 128, 256, 512, 1024) if t <= self.target.max_threads],
                      "per_thread": [1, 2, 4, 8], "unroll": [0, 1], "local": [0, 1], "inline_pad": [0, 1]}

    def _seeds(self):
        return [{"out_layout": "default", "threads": self.target.threads, "per_thread": 1, "unroll": 0, "local": 0,
                 "inline_pad": 0}]

    def _check(self, p):
        # the innermost physical axis of the output under the layout
        lay = p["out_layout"]
        last = self.out_shape[1] if lay == "NHWC" else 32 if lay == "NCHW32c" else self.out_shape[-1]
        if p["per_thread"] > 1 and p["per_thread"] > last:
            return f"per_thread={p['per_thread']} is more than the {last} elements of the innermost output axis"
        if p["local"] and p["per_thread"] == 1:
            return "a register tile (local) of one element is the plain schedule; use per_thread > 1"
        return None

    def _apply(self, s, out, p):
        from alt.ops.gpu import bind_stage
        self._prepare(s, out, p)
        for st in list(s.stages):
            if st.attach is not None:
                continue
            if st.tensor is out or st.op.reduce_axis:
                _thread_tile(s, st, p)
            else:
                bind_stage(st, p["threads"])
        return s


def _thread_tile(s, st, p):
    """The stage's last spatial axis in per_thread elements of one thread, the rest over blocks of
    `threads` threads; a reduction's elements accumulated in registers where `local`."""
    local = s.cache_write(st.tensor) if p["local"] and st.op.reduce_axis and len(st.axis) >= 1 else None
    spatial = [v for v in st.leaves if v.kind != "reduce"]
    reduce = [v for v in st.leaves if v.kind == "reduce"]
    st.reorder(*spatial, *reduce)
    *lead, last = spatial
    if p["per_thread"] > 1 and last.extent > 1:
        vo, vi = st.split(last, factor=min(p["per_thread"], last.extent))
        lead.append(vo)
    else:
        vi = None
        lead.append(last)
    loop = st.fuse(*lead) if len(lead) > 1 else lead[0]
    if loop.extent > p["threads"]:
        b, t = st.split(loop, factor=p["threads"])
        st.bind(b, "blockIdx.x")
        st.bind(t, "threadIdx.x")
    else:
        t = loop
        st.bind(t, "threadIdx.x")
    if local is not None:
        s[local].compute_at(st, t)
        L = s[local]
        L.reorder(*L.reduce_axis, *L.axis)
        if p["unroll"] and L.axis[-1].extent > 1:
            L.unroll(L.axis[-1])
    elif vi is not None and p["unroll"]:
        st.unroll(vi)
