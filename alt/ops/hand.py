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


def _conv_parts(s, conv):
    """(X, W, padding stage or None) of a conv2d built by alt.ops.conv2d_nchw."""
    P, W = conv.op.input_tensors
    if s[conv].op is not conv.op:
        raise ValueError(f"{conv.name!r} was already scheduled; pass a fresh schedule")
    pad = s[P] if P.op.input_tensors else None
    X = P.op.input_tensors[0] if pad else P
    return X, W, pad


def conv2d_nhwc(s, conv, tile_x=4, tile_o=32):
    """conv2d with NHWC activations and HWIO weights: a tile_x x tile_o accumulator per
    (n, y, x-block, o-block), vectorized along output channels."""
    X, W, pad = _conv_parts(s, conv)
    s.layout(X).reorder(0, 2, 3, 1)
    s.layout(W).reorder(2, 3, 1, 0)
    if pad:
        s.layout(pad.tensor).reorder(0, 2, 3, 1)
        schedule_stage(s, pad)
    s.layout(conv).reorder(0, 2, 3, 1)
    CC = s.cache_write(conv)
    n, y, x, o = s[conv].axis
    xo, xi = s[conv].split(x, factor=tile_x)
    oo, oi = s[conv].split(o, factor=tile_o)
    s[conv].reorder(n, y, xo, oo, xi, oi)
    s[conv].parallel(s[conv].fuse(n, y))
    s[conv].vectorize(oi)
    s[CC].compute_at(s[conv], oo)
    cn, cy, cx, co = s[CC].axis
    rc, ry, rx = s[CC].reduce_axis
    s[CC].reorder(cn, cy, ry, rx, rc, cx, co)
    s[CC].unroll(cx)
    s[CC].vectorize(co)
    return s


def conv2d_nchwc(s, conv, block=16, tile_x=8):
    """conv2d in NCHW{block}c (activations) and OIHW{block}i{block}o (weights), as in MKL-DNN and
    ALT's case study: a tile_x x block accumulator per (n, o-block, y, x-block)."""
    X, W, pad = _conv_parts(s, conv)
    c_in, c_out = X.shape[1], W.shape[0]
    if c_out % block:
        raise ValueError(f"conv2d_nchwc: {c_out} output channels are not a multiple of block {block}")
    c_pad = -c_in % block  # input channels padded up to a whole block (zeros, never read)

    def blocked(t):
        view = s.layout(t)
        if c_pad:
            view.pad(1, 0, c_pad)
        view.split(1, block).reorder(0, 1, 3, 4, 2)

    blocked(X)
    if pad:
        blocked(pad.tensor)
        schedule_stage(s, pad)
    w = s.layout(W)
    if c_pad:
        w.pad(1, 0, c_pad)
    w.split(0, block).split(2, block).reorder(0, 2, 4, 5, 3, 1)
    s.layout(conv).split(1, block).reorder(0, 1, 3, 4, 2)
    CC = s.cache_write(conv)
    n, oo, y, x, oi = s[conv].axis
    xo, xi = s[conv].split(x, factor=tile_x)
    s[conv].reorder(n, oo, y, xo, xi, oi)
    s[conv].parallel(s[conv].fuse(n, oo, y))
    s[conv].vectorize(oi)
    s[CC].compute_at(s[conv], xo)
    cn, coo, cy, cx, coi = s[CC].axis
    rc, ry, rx = s[CC].reduce_axis
    rco, rci = s[CC].split(rc, factor=block)
    s[CC].reorder(cn, coo, cy, rco, ry, rx, rci, cx, coi)
    s[CC].unroll(cx)
    s[CC].vectorize(coi)
    return s


LAYOUT_SCHEDULES = {"NCHW": conv2d_tiled, "NHWC": conv2d_nhwc, "NCHW16c": conv2d_nchwc}
