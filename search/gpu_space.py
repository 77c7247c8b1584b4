"""The GPU search space: layouts and thread tiling of any suite operator on a CUDA target.

A point lays the output out (NCHW, NHWC or NCHW32c for 4-d outputs: which dimension a warp's
threads walk along decides whether their stores coalesce), then schedules every stage computed at
root: the last output axis split into `per_thread` consecutive elements computed by one thread
(unrolled or not), the remaining spatial loops fused with the outer part and split into blocks of
`threads` threads (blockIdx.x / threadIdx.x). With `local`, a reduction accumulates a thread's
elements in registers (cache_write, computed at the thread loop, the reduction loops outside the
register tile). With `vector`, a thread's 2 or 4 consecutive elements are a vectorized loop, which
the CUDA renderer emits as float2/float4 loads and stores where they are contiguous and aligned
(else lane by lane). Padding stages may be inlined into their reader.

GPUGemmSpace (GMM, BMM) stages both operands through shared memory (cache_read "shared", with
barriers); convolutions do not have shared-memory staging yet.
"""
from .space import GenericSpace, Invalid, Space


class GPUSpace(GenericSpace):
    """GenericSpace's layouts and inlining, with thread tiling instead of CPU loops."""
    added = {"vector": 0}

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
                      "per_thread": [1, 2, 4, 8], "unroll": [0, 1], "local": [0, 1], "inline_pad": [0, 1],
                      "vector": [0, 1]}

    def _seeds(self):
        return [{"out_layout": "default", "threads": self.target.threads, "per_thread": 1, "unroll": 0, "local": 0,
                 "inline_pad": 0, "vector": 0}]

    def _check(self, p):
        # the innermost physical axis of the output under the layout
        lay = p["out_layout"]
        last = self.out_shape[1] if lay == "NHWC" else 32 if lay == "NCHW32c" else self.out_shape[-1]
        if p["per_thread"] > 1 and p["per_thread"] > last:
            return f"per_thread={p['per_thread']} is more than the {last} elements of the innermost output axis"
        if p["vector"] and p["per_thread"] not in (2, 4):
            return f"vector loads are float2 or float4: per_thread must be 2 or 4, not {p['per_thread']}"
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
    vector = p.get("vector") and vi is not None
    if local is not None:
        s[local].compute_at(st, t)
        L = s[local]
        L.reorder(*L.reduce_axis, *L.axis)
        if vector:
            L.vectorize(L.axis[-1])
        elif p["unroll"] and L.axis[-1].extent > 1:
            L.unroll(L.axis[-1])
    if vi is not None and vector and not st.op.reduce_axis:  # a reduction's own loops sit inside vi
        st.vectorize(vi)
    elif vi is not None and p["unroll"] and local is None:
        st.unroll(vi)


class GPUGemmSpace(Space):
    """Matrix multiply (GMM, BMM) on a GPU, TVM's classic schedule: blocks of ty x tx threads,
    each computing r x c outputs in registers, A and B staged through shared memory kt columns of
    the reduction at a time and fetched by all the block's threads together (barriers around each
    fetch). Blocks must tile the output exactly (a barrier under a guard is not allowed), and the
    two shared tiles must fit the target's shared memory."""
    layout_knobs = ()

    def __init__(self, workload, target=None):
        from alt.target import resolve
        self.workload = workload
        self.target = resolve(target)
        if self.target.kind != "cuda":
            raise Invalid(f"GPUGemmSpace of {workload.name}: target {self.target} is not a CUDA target")
        *self.batch, self.m, self.n, self.k = workload.params
        self.knobs = {"ty": [1, 2, 4, 8, 16], "tx": [4, 8, 16, 32], "r": [1, 2, 4, 8], "c": [1, 2, 4],
                      "kt": [4, 8, 16, 32], "unroll": [0, 1]}

    def has_points(self):
        """Does any block tile divide this output (odd shapes have none: GPUSpace serves them)?"""
        return bool(self._valid_points(None))

    def _seeds(self):
        return [{"ty": 8, "tx": 16, "r": 4, "c": 2, "kt": 16, "unroll": 1},
                {"ty": 8, "tx": 8, "r": 2, "c": 1, "kt": 8, "unroll": 0}]

    def _check(self, p):
        rows, cols = p["ty"] * p["r"], p["tx"] * p["c"]
        if self.m % rows or self.n % cols:
            return (f"a block's tile {rows} x {cols} does not divide the {self.m} x {self.n} output (barriers must "
                    "not sit under a guard)")
        if p["kt"] > self.k:
            return f"kt={p['kt']} is more than the reduction's {self.k}"
        if p["ty"] * p["tx"] > self.target.max_threads:
            return f"{p['ty'] * p['tx']} threads a block; the target allows {self.target.max_threads}"
        shared = 4 * p["kt"] * (rows + cols)
        if shared > self.target.shared_bytes:
            return f"the shared tiles take {shared} bytes; the target has {self.target.shared_bytes} a block"
        return None

    def _apply(self, s, C, p):
        CC = s.cache_write(C)
        reader = s[CC]
        AA = s.cache_read(C.op.input_tensors[0], "shared", [reader])
        BB = s.cache_read(C.op.input_tensors[1], "shared", [reader])
        *batch, i, j = s[C].axis
        bi, ii = s[C].split(i, factor=p["ty"] * p["r"])
        ti, ri = s[C].split(ii, factor=p["r"])
        bj, jj = s[C].split(j, factor=p["tx"] * p["c"])
        tj, rj = s[C].split(jj, factor=p["c"])
        s[C].reorder(*batch, bi, bj, ti, tj, ri, rj)
        for loop, tag in [(b, "blockIdx.z") for b in batch] + [(bi, "blockIdx.y"), (bj, "blockIdx.x"),
                                                             (ti, "threadIdx.y"), (tj, "threadIdx.x")]:
            s[C].bind(loop, tag)
        s[CC].compute_at(s[C], tj)
        L = s[CC]
        ko, ki = L.split(L.op.reduce_axis[0], factor=p["kt"])
        L.reorder(ko, ki, *L.axis)
        if p["unroll"]:
            L.unroll(L.axis[-2])
            L.unroll(L.axis[-1])
        threads = p["tx"] * p["ty"]
        for X in (AA, BB):
            s[X].compute_at(L, ko)
            fo, fi = s[X].split(s[X].fuse(*s[X].axis), factor=threads)
            fy, fx = s[X].split(fi, factor=p["tx"])
            s[X].bind(fy, "threadIdx.y")
            s[X].bind(fx, "threadIdx.x")
        return s
