"""Hand-written schedules: register-tiled GEMM and conv2d, the demo's and benchmarks' baselines."""
from .default import schedule_stage


def matmul_tiled(s, C, tile_i=8, tile_j=64):
    """Accumulate a tile_i x tile_j block of C in a local buffer over the whole k loop.

    The block stays in vector registers (tile_i * tile_j / 16 zmm accumulators for float32).
    """
    CC = s.cache_write(C)
    i, j = C.axis
    io, jo, ii, ji = s[C].tile(i, j, tile_i, tile_j)
    s[C].parallel(io)
    s[C].vectorize(ji)
    s[CC].compute_at(s[C], jo)
    ci, cj = CC.axis
    (k,) = CC.op.reduce_axis
    s[CC].reorder(k, ci, cj)
    s[CC].unroll(ci)
    s[CC].vectorize(cj)
    return s


def conv2d_tiled(s, conv, tile_o=4, schedule_pad=True):
    """NCHW conv2d: a tile_o x (one output row) accumulator per (n, o-block, y), vectorized along x.

    With schedule_pad, the padding stage (if any) gets the default parallel/vector schedule at root.
    """
    if schedule_pad:
        for st in s.stages:
            if st.op.tag == "pad" and st.attach is None and not st.is_scheduled:
                schedule_stage(s, st)
    CC = s.cache_write(conv)
    n, o, y, x = conv.axis
    oo, oi = s[conv].split(o, factor=tile_o)
    s[conv].reorder(n, oo, y, oi, x)
    par = s[conv].fuse(n, oo)
    s[conv].parallel(par)
    s[conv].vectorize(x)
    s[CC].compute_at(s[conv], y)
    cn, co, cy, cx = CC.axis
    rc, ry, rx = CC.op.reduce_axis
    s[CC].reorder(cn, cy, rc, ry, rx, co, cx)
    s[CC].unroll(co)
    s[CC].vectorize(cx)
    return s
