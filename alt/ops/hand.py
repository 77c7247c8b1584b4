"""Hand-written schedules: register-tiled GEMM and conv2d, the demo's and benchmarks' baselines.

Tile sizes left as None come from the target in effect (alt.target.current()): register tiles that
fit its register file (gemm_tile, conv_tile), channel blocks of conv_tile's whole vectors.
"""

from ..errors import ScheduleError
from ..target import current
from .default import schedule_stage


def gemm_tile(target=None):
    """(rows, columns) of the register tile of a float32 GEMM on `target` (default: the current one):
    its largest register tile (rows x vectors accumulators), in elements."""
    t = target or current()
    rows, vectors = t.register_tile(rows=range(1, 9))  # 6 x 4 vectors on AVX-512, 6 x 2 on AVX2
    return rows, vectors * t.lanes("float32")


def conv_tile(width, channels=None, target=None, vectors=(1, 2, 4)):
    """(vectors, rows) of a convolution's accumulator tile on `target`: `rows` output pixels along
    x (a divisor of the output `width`) by `vectors` vectors of output channels (dividing `channels`).
    The tile holds the most accumulators that leave one register for the broadcast input (the
    weight vectors are memory operands of the FMAs), then the fewest loads per FMA: 4 x 7 on
    AVX-512 and 2 x 7 on AVX2 for a 56-wide output."""
    t = target or current()
    lanes = t.lanes("float32")
    best, key = (1, 1), None
    for v in vectors:
        if channels is not None and channels % (v * lanes):
            continue
        for x in range(1, width + 1):
            if width % x or v * x + 1 > t.registers:
                continue
            k = (v * x, -(v + x) / (v * x))
            if key is None or k > key:
                best, key = (v, x), k
    return best


def matmul_tiled(s, C, tile_i=None, tile_j=None, pack_b=False, order="ij", tile_k=None):
    """Accumulate a tile_i x tile_j block of C in a local buffer over the whole k loop.

    The block stays in vector registers (tile_i * tile_j / lanes accumulators); the default is
    the target's GEMM register tile (gemm_tile). `pack_b` stores B as column panels of tile_j
    columns (a layout: B[j // tile_j][k][j % tile_j], so a panel is contiguous instead of strided by
    a row of B); order "ji" runs the column panels outermost (each panel stays in cache while every
    row tile uses it); `tile_k` splits the k loop.
    """
    rows, cols = gemm_tile()
    tile_i, tile_j = tile_i or rows, tile_j or cols
    A, B = C.op.input_tensors
    if pack_b:
        view = s.layout(B)
        if B.shape[1] % tile_j:
            view.pad(1, 0, -B.shape[1] % tile_j)
        view.split(1, tile_j).reorder(1, 0, 2)
    CC = s.cache_write(C)
    i, j = C.axis
    io, jo, ii, ji = s[C].tile(i, j, tile_i, tile_j)
    if order == "ji":
        s[C].reorder(jo, io, ii, ji)
    s[C].parallel(jo if order == "ji" else io)
    s[C].vectorize(ji)
    s[CC].compute_at(s[C], io if order == "ji" else jo)
    ci, cj = CC.axis
    (k,) = CC.op.reduce_axis
    if tile_k and tile_k < k.extent:
        ko, ki = s[CC].split(k, factor=tile_k)
        s[CC].reorder(ko, ki, ci, cj)
    else:
        s[CC].reorder(k, ci, cj)
    s[CC].unroll(ci)
    s[CC].vectorize(cj)
    return s


def matmul_packed(s, C):
    """The best hand schedule of a float32 GEMM on the target in effect: its register tile
    (gemm_tile), B packed into panels of that many columns, panels outermost and shared among the
    cores, k in steps of 256 (experiments.gemm_bench compares it with numpy)."""
    return matmul_tiled(s, C, pack_b=True, order="ji", tile_k=256)


def tile_target(s, conv, out):
    """Accumulate `conv` in a local tile (cache_write); with an elementwise epilogue ending in `out`
    (bias, batch norm, residual add, ReLU...), inline conv and the epilogue into `out`, whose loops
    then carry the tile. Returns (the stage to tile, the local accumulator tensor)."""
    CC = s.cache_write(conv)
    return inline_epilogue(s, conv, out), CC


def inline_epilogue(s, t, out):
    """The stage that carries `t`'s loops: `out`'s, with `t` and the elementwise epilogue before
    `out` inlined into it, where there is an epilogue; else `t`'s own."""
    if out is None or out is t:
        return s[t]
    s[t].compute_inline()
    for st in s.stages:
        if st.op.tag == "injective" and st.tensor is not out and st.attach is None:
            st.compute_inline()
    return s[out]


def conv_inputs(conv):
    """(X, W) of a convolution built by alt.ops.conv / conv2d_nchw (X under its padding stage)."""
    P, W = conv.op.input_tensors
    X = P.op.input_tensors[0] if P.op.input_tensors else P
    return X, W


def pad_stage(s, conv):
    P = conv.op.input_tensors[0]
    return s[P] if P.op.input_tensors else None


def relayout_blocked(s, t, block, pad_channels, tile=(1, 1)):
    """Lay t out as NCHW{block}c, or with a spatial tile (rows, columns) as NCHW{rows}h{columns}w{block}c
    (alt.graph.plan.layout_steps: the same steps the graph planner uses)."""
    from alt.graph.plan import lay_out, tiled_name
    view = s.layout(t)
    if pad_channels:
        view.pad(1, 0, pad_channels)
    lay_out(view, tiled_name(*tile, block, *t.shape[2:]), (t.shape[0], t.shape[1] + pad_channels, *t.shape[2:]))


def relayout_conv2d(s, conv, layout, ob=None, ib=None, relayout_input=True, out=None, schedule_pad=True,
                    tile=(1, 1)):
    """Lay a conv2d's activations, weights and output (and the end `out` of its epilogue) out as
    NCHW, NHWC (weights HWIO) or NCHWc: outputs in blocks of `ob` channels, inputs in blocks of
    `ib` (padded up to whole blocks; the padding is never read), weights OIHW{ib}i{ob}o; blocks
    default to one vector of the target. With NCHWc, `tile` (rows, columns) also tiles the output
    spatially (NCHW{rows}h{columns}w{ob}c: ALT's output tiles, one register tile contiguous). The
    padding stage, laid out like the input, gets the default schedule. Returns (X, W, pad stage)."""
    ob = ob or current().lanes(conv.dtype)
    ib = ib or ob
    X, W = conv_inputs(conv)
    pad = pad_stage(s, conv)
    acts = ([X] if relayout_input else []) + ([pad.tensor] if pad else [])
    outs = [conv] + ([out] if out is not None and out is not conv else [])
    if layout == "NHWC":
        for t in acts + outs:
            s.layout(t).reorder(0, 2, 3, 1)
        s.layout(W).reorder(2, 3, 1, 0)
    elif layout == "NCHWc":
        if W.shape[0] % ob:
            raise ScheduleError(f"relayout_conv2d: {W.shape[0]} output channels are not a multiple of {ob}")
        c_pad = -X.shape[1] % ib
        for t in acts:
            relayout_blocked(s, t, ib, c_pad)
        w = s.layout(W)
        if c_pad:
            w.pad(1, 0, c_pad)
        w.split(0, ob).split(2, ib).reorder(0, 2, 4, 5, 3, 1)
        for t in outs:
            relayout_blocked(s, t, ob, 0, tile)
    elif layout != "NCHW":
        raise ScheduleError(f"relayout_conv2d: layout {layout!r} is not NCHW, NHWC or NCHWc")
    if tuple(tile) != (1, 1) and layout != "NCHWc":
        raise ScheduleError(f"relayout_conv2d: a spatial tile {tuple(tile)} needs layout NCHWc, not {layout!r}")
    if pad is not None and schedule_pad and not pad.is_scheduled:
        schedule_stage(s, pad)
    return X, W, pad


def conv2d_tiled(s, conv, tile_o=None, schedule_pad=True, out=None, relayout_input=True):
    """NCHW conv2d: a tile_o x (one output row) accumulator per (n, o-block, y), vectorized along x
    (tile_o: the rows of the target's register tile by default).

    With schedule_pad, the padding stage (if any) gets the default parallel/vector schedule at root.
    `out` is the end of an elementwise epilogue fused into the same loop nest. The input stays in
    whatever layout it has (relayout_input is accepted for symmetry with the other layouts).
    """
    tile_o = tile_o or current().register_tile()[0]
    relayout_conv2d(s, conv, "NCHW", schedule_pad=schedule_pad)
    T, CC = tile_target(s, conv, out)
    n, o, y, x = T.axis
    oo, oi = T.split(o, factor=tile_o)
    T.reorder(n, oo, y, oi, x)
    T.parallel(T.fuse(n, oo))
    T.vectorize(x)
    s[CC].compute_at(T, y)
    cn, co, cy, cx = CC.axis
    rc, ry, rx = CC.op.reduce_axis
    s[CC].reorder(cn, cy, rc, ry, rx, co, cx)
    s[CC].unroll(co)
    s[CC].vectorize(cx)
    return s


def conv2d_nhwc(s, conv, tile_x=None, tile_o=None, relayout_input=True, out=None):
    """conv2d with NHWC activations and HWIO weights: a tile_x x tile_o accumulator per
    (n, y, x-block, o-block), vectorized along output channels (default: conv_tile's)."""
    vectors, rows = conv_tile(conv.shape[3], conv.shape[1])
    tile_x, tile_o = tile_x or rows, tile_o or vectors * current().lanes(conv.dtype)
    relayout_conv2d(s, conv, "NHWC", relayout_input=relayout_input, out=out)
    T, CC = tile_target(s, conv, out)
    n, y, x, o = T.axis
    xo, xi = T.split(x, factor=tile_x)
    oo, oi = T.split(o, factor=tile_o)
    T.reorder(n, y, xo, oo, xi, oi)
    T.parallel(T.fuse(n, y))
    T.vectorize(oi)
    s[CC].compute_at(T, oo)
    cn, cy, cx, co = s[CC].axis
    rc, ry, rx = s[CC].reduce_axis
    s[CC].reorder(cn, cy, ry, rx, rc, cx, co)
    s[CC].unroll(cx)
    s[CC].vectorize(co)
    return s


def nchwc_tile_axes(st, tile_y, tile_x):
    """([n, o-block, y-tile, x-tile], [y, x, o] within the tile) of a stage whose loops follow an
    NCHW<b>c layout, spatially tiled or not: the splits its layout already made are reused, the
    others made with factors tile_y and tile_x."""
    axes = list(st.axis)
    if len(axes) == 5:  # n, o.outer, y, x, o.inner
        n, oo, y, x, oi = axes
        yo, yi = st.split(y, factor=tile_y)
        xo, xi = st.split(x, factor=tile_x)
    elif len(axes) == 6:  # rows tiled: n, o.outer, y.outer, x, y.inner, o.inner
        n, oo, yo, x, yi, oi = axes
        xo, xi = st.split(x, factor=tile_x)
    else:  # rows and columns tiled
        n, oo, yo, xo, yi, xi, oi = axes
    return [n, oo, yo, xo], [yi, xi, oi]


def conv2d_nchwc(s, conv, block=None, tile_x=None, relayout_input=True, out=None, out_tile=(1, 1)):
    """conv2d in NCHW{block}c (activations) and OIHW{block}i{block}o (weights), as in MKL-DNN and
    ALT's case study: a tile_x x block accumulator per (n, o-block, y, x-block). By default the
    block and tile_x are conv_tile's for the output (blocked_layout's block where it divides the
    channels). `out_tile` (rows, columns) tiles the output spatially as well (relayout_conv2d).
    Inputs are read in blocks of `block` channels, or of all of them where there are fewer (a first
    layer's 3 colour channels: NCHW3c, no zero channels copied and multiplied).

    The reduction runs over input-channel blocks, kernel rows, then kernel columns x channels of a
    block fused into one loop: in NCHW{b}c the padded input's (rx, c) and the weights' (rx, c) are
    each one contiguous run (rx * b + c), so the innermost loop is kw * b long instead of b. On Zen 3:
    3 x 3 kernels in 16-channel blocks 161 -> 168-177 GFLOP/s, ResNet's 7 x 7 stem 2.1 -> 1.4 ms."""
    t = current()
    lanes = t.lanes(conv.dtype)
    if block is None:
        block = conv_tile(conv.shape[3], conv.shape[1])[0] * lanes
    vectors = max(1, block // lanes)
    tile_x = tile_x or conv_tile(conv.shape[3], vectors=(vectors,))[1]
    c_in = conv_inputs(conv)[0].shape[1]
    in_block = c_in if c_in < block else block  # 3 colour channels: NCHW3c, no zero channels
    relayout_conv2d(s, conv, "NCHWc", ob=block, ib=in_block, relayout_input=relayout_input, out=out, tile=out_tile)
    whole = c_in % in_block == 0  # input channels in whole blocks
    T, CC = tile_target(s, conv, out)
    if tuple(out_tile) != (1, 1):  # the layout's tile is the register tile
        (n, oo, yo, xo), tile = nchwc_tile_axes(T, out_tile[0], out_tile[1])
        T.reorder(n, oo, yo, xo, *tile)
        T.parallel(T.fuse(n, oo, yo))
        T.vectorize(tile[-1])
        s[CC].compute_at(T, xo)
        (cn, coo, cyo, cxo), ctile = nchwc_tile_axes(s[CC], out_tile[0], out_tile[1])
        rc, ry, rx = s[CC].reduce_axis
        rco, rci = s[CC].split(rc, factor=in_block)
        s[CC].reorder(cn, coo, cyo, cxo, rco, ry, rx, rci, *ctile)
        if whole:
            s[CC].fuse(rx, rci)
        for a in ctile[:-1]:
            s[CC].unroll(a)
        s[CC].vectorize(ctile[-1])
        return s
    n, oo, y, x, oi = T.axis
    xo, xi = T.split(x, factor=tile_x)
    T.reorder(n, oo, y, xo, xi, oi)
    T.parallel(T.fuse(n, oo, y))
    T.vectorize(oi)
    s[CC].compute_at(T, xo)
    cn, coo, cy, cx, coi = s[CC].axis
    rc, ry, rx = s[CC].reduce_axis
    rco, rci = s[CC].split(rc, factor=in_block)
    s[CC].reorder(cn, coo, cy, rco, ry, rx, rci, cx, coi)
    if whole:  # one contiguous run of input pixels x channels, and of weights (see the docstring)
        s[CC].fuse(rx, rci)
    s[CC].unroll(cx)
    s[CC].vectorize(coi)
    return s


LAYOUT_SCHEDULES = {"NCHW": conv2d_tiled, "NHWC": conv2d_nhwc, "NCHWc": conv2d_nchwc}


def blocked_layout(target=None, channels=None, width=56):
    """The channel-blocked layout of conv_tile's vectors on `target` for an output `width` pixels
    wide with `channels` channels: 'NCHW64c' on AVX-512 and 'NCHW16c' on AVX2 for ResNet's
    56 x 56 x 64 layers; a smaller block where the channels need it, None where they are not whole
    vectors."""
    t = target or current()
    lanes = t.lanes("float32")
    if channels is not None and channels % lanes:
        return None  # no whole vectors of channels: not a layout to block
    return f"NCHW{conv_tile(width, channels, t)[0] * lanes}c"


def conv_schedule(layout):
    """The hand schedule of a conv2d whose output is stored in `layout` ('NCHW', 'NHWC',
    'NCHW<b>c' or a spatially tiled 'NCHW<h>h[<w>w]<b>c'), as a function (s, conv, relayout_input,
    out); None for another layout."""
    from alt.graph.plan import blocked_parts
    parts = blocked_parts(layout)
    if parts:
        ht, wt, block = parts
        return lambda s, conv, **kw: conv2d_nchwc(s, conv, block=block, out_tile=(ht, wt), **kw)
    return LAYOUT_SCHEDULES.get(layout)


def depthwise_tile(out_width, block, target=None):
    """The output columns of a depthwise convolution's accumulator tile of `block` channels: the
    widest row up to 8 pixels that divides the output and leaves a register for the input and one
    for the weight."""
    t = target or current()
    vectors = max(1, block // t.lanes("float32"))
    return max([x for x in (1, 2, 4, 7, 8) if out_width % x == 0 and x * vectors <= t.registers - 2] or [1])


def depthwise_block(channels, target=None):
    """The channel block of a depthwise convolution on `target`: one or two vectors, dividing the
    channels; None where the channels are not whole vectors."""
    lanes = (target or current()).lanes("float32")
    if channels % lanes:
        return None
    return 2 * lanes if channels % (2 * lanes) == 0 else lanes


def depthwise_conv(s, conv, block, blocked=True, tile_y=1, tile_x=None, par_depth=2, unroll=True, out=None,
                   relayout_input=True, order=None, unroll_taps=False, in_blocked=None, taps_first=None, attach=0,
                   spatial=False, unroll_rows=None, cache_x=1):
    """A depthwise convolution (one filter per channel) with its channels in the vector lanes:
    the output in NCHW<block>c (`blocked`) or NHWC, the input in the same (`in_blocked`, default
    `blocked`: channel c reads channel c, so either way a block of channels is one vector load), the
    weight (C, 1, KH, KW) as C/block x KH x KW x block, or (`taps_first`, the default in NHWC) as KH x
    KW x C/block x block, so that a filter tap is one vector load; the output tiled by tile_y rows x
    tile_x columns x block channels held in registers (depthwise_tile by default), the taps outside
    the tile (unrolled too with `unroll_taps`), par_depth + 1 outer loops fused into the parallel one.
    `order` places the channel-block loop among the row and column tiles: "o-y-x", "y-o-x" or
    "y-x-o" (default: o-y-x blocked, y-o-x in NHWC); the accumulator tile is computed at the loop just
    outside it, or (`attach` 1) one loop further out where that loop is not the parallel one. With
    `spatial` a blocked output is also tiled spatially (NCHW{tile_y}h{tile_x}w{block}c: one register
    tile contiguous). In order "y-x-o", `cache_x` > 1 runs the channel blocks inside bands of cache_x
    column tiles (a band of every channel stays in cache). `unroll` unrolls the tile's columns,
    `unroll_rows` (default `unroll`) its rows. `out` ends an elementwise epilogue fused after it; with
    relayout_input=False the input keeps the layout it has (a network's)."""
    order = order or ("o-y-x" if blocked else "y-o-x")
    if spatial and not blocked:
        raise ScheduleError("depthwise_conv: a spatially tiled output needs blocked=True (NCHW<block>c)")
    if cache_x > 1 and order != "y-x-o":
        raise ScheduleError(f"depthwise_conv: cache_x={cache_x} bands the column tiles around the channel "
                            f"blocks, so it needs order 'y-x-o', not {order!r}")
    X, W = conv_inputs(conv)
    pad = pad_stage(s, conv)
    in_blocked = blocked if in_blocked is None else in_blocked
    taps_first = (not blocked) if taps_first is None else taps_first
    acts = ([X] if relayout_input else []) + ([pad.tensor] if pad else [])
    outs = [conv] + ([out] if out is not None and out is not conv else [])
    tile_x = tile_x or depthwise_tile(conv.shape[3], block)
    for ts, blocks, tile in ((acts, in_blocked, (1, 1)), (outs, blocked, (tile_y, tile_x) if spatial else (1, 1))):
        for t in ts:
            if blocks:
                relayout_blocked(s, t, block, 0, tile)
            else:
                s.layout(t).reorder(0, 2, 3, 1)
    w = s.layout(W)
    if W.shape[0] % block:  # whole blocks of filters (the padding is never read)
        w.pad(0, 0, -W.shape[0] % block)
    w.split(0, block).reorder(*((2, 3, 4, 0, 1) if taps_first else (0, 2, 3, 4, 1)))  # (1, KH, KW) with C/b, b
    if pad is not None:
        schedule_stage(s, pad)
    T, CC = tile_target(s, conv, out)
    if blocked:
        (n, oo, yo, xo), (yi, xi, oi) = nchwc_tile_axes(T, tile_y, tile_x)
    else:
        n, y, x, o = T.axis
        yo, yi = T.split(y, factor=tile_y)
        xo, xi = T.split(x, factor=tile_x)
        oo, oi = T.split(o, factor=block)
    outer = [n] + [{"o": oo, "y": yo, "x": xo}[a] for a in order.split("-")]
    if cache_x > 1:
        xoo, xoi = T.split(xo, factor=cache_x)
        outer = [n, yo, xoo, oo, xoi]
    T.reorder(*outer, yi, xi, oi)
    T.vectorize(oi)
    T.parallel(T.fuse(*outer[:min(par_depth, len(outer) - 1) + 1]))
    s[CC].compute_at(T, T.leaves[max(0, T.leaves.index(yi) - 1 - attach)])
    L = s[CC]
    rc, ry, rx = L.reduce_axis
    couter = []
    if blocked and spatial:  # the accumulator follows the output's tiled layout
        (cn, coo, *couter), (cy, cx, coi) = nchwc_tile_axes(L, tile_y, tile_x)
    elif blocked:
        cn, coo, cy, cx, coi = L.axis
    else:
        cn, cy, cx, co = L.axis
        coo, coi = L.split(co, factor=block)
    L.reorder(cn, coo, *couter, rc, ry, rx, cy, cx, coi)
    L.vectorize(coi)
    if unroll if unroll_rows is None else unroll_rows:
        L.unroll(cy)
    if unroll:
        L.unroll(cx)
    if unroll_taps:
        L.unroll(ry)
        L.unroll(rx)
    return s


def depthwise_schedule(layout, target=None):
    """The hand schedule of a depthwise convolution whose output is stored in `layout` ('NHWC' or
    'NCHW<b>c' with b whole vectors), as a function (s, conv, relayout_input, out); None for another
    layout (the default schedule then)."""
    from alt.graph.plan import blocked_parts
    lanes = (target or current()).lanes("float32")
    parts = blocked_parts(layout)
    if parts and parts[:2] == (1, 1) and parts[2] % lanes == 0:
        return lambda s, conv, **kw: depthwise_conv(s, conv, parts[2], True, **kw)
    if layout == "NHWC":
        return lambda s, conv, **kw: depthwise_conv(s, conv, lanes, False, **kw)
    return None


def dense_tiled(s, dense, tile_i=None, tile_j=None, out=None, panels=True, order="ji"):
    """dense (X @ W.T) as a register-tiled GEMM (the target's GEMM register tile by default).

    `panels` stores the weight as panels of tile_j output columns, W[j // tile_j][k][j % tile_j]
    (padded to whole panels), so that a tile streams one contiguous panel; otherwise transposed
    (K, N), where each k step reads a different row. Order "ji" runs the column panels outermost
    and in parallel (each panel stays in cache for every row tile; a single-row classifier still
    has work for every core), "ij" the row tiles. On Zen 3, BERT's dense layers (128 rows, 768 or
    3072 columns) ran at 80-110 GFLOP/s transposed and row-parallel, and 165 with the defaults.

    `dense` is the tensor alt.ops.dense returned (the reduction, or its bias add); `out` the end of
    an elementwise epilogue fused into the same loop nest.
    """
    red = dense if dense.op.reduce_axis else dense.op.input_tensors[0]
    X, W = red.op.input_tensors
    rows, cols = gemm_tile()
    tile_i, tile_j = tile_i or rows, tile_j or cols
    view = s.layout(W)
    if panels:  # W[j // tile_j][k][j % tile_j]: a tile's weights are one contiguous panel
        if W.shape[0] % tile_j:
            view.pad(0, 0, -W.shape[0] % tile_j)
        view.split(0, tile_j).reorder(0, 2, 1)
    else:
        view.reorder(1, 0)
    out = out if out is not None else (dense if dense is not red else None)
    T, CC = tile_target(s, red, out)
    i, j = T.axis
    io, jo, ii, ji = T.tile(i, j, tile_i, tile_j)
    if order == "ji":
        T.reorder(jo, io, ii, ji)
    T.parallel(jo if order == "ji" else io)
    T.vectorize(ji)
    s[CC].compute_at(T, io if order == "ji" else jo)
    ci, cj = s[CC].axis
    (k,) = s[CC].reduce_axis
    s[CC].reorder(k, ci, cj)
    s[CC].unroll(ci)
    s[CC].vectorize(cj)
    return s
