"""Winograd convolution F(m x m, 3 x 3) (Lavin and Gray, 2016), as three compute stages:

    V[t, q, c] = (B^T d B)[t]      each 3x3-stride-1 input tile d of (m + 2)^2 pixels, transformed
    M[t, q, k] = sum_c V[t, q, c] * U[t, k, c]     one GEMM per transformed position t
    Y[n, k, y, x] = (A^T M A)[y % m, x % m]        back to m x m output pixels per tile

with U = G w G^T, the weights transformed once, ahead of time (`winograd_weight`). An m x m output
tile takes (m + 2)^2 multiplications per channel pair instead of 9 m^2: 2.25x fewer for m = 2, 4x
for m = 4. The transforms are sums of a few input values with small constant coefficients; each of
the (m + 2)^2 positions t is one branch of a select on t (only the taken branch is evaluated, and
a schedule that unrolls t leaves gcc a straight sum per position).
"""
import numpy as np

from .. import expr as E
from ..errors import ComputeError
from ..tensor import Tensor, compute, reduce_axis
from .nn import pad

# (A^T, G, B^T) for F(m, 3): interpolation points 0, 1, -1 (m = 2) and 0, 1, -1, 2, -2 (m = 4), and infinity
MATRICES = {
    2: ([[1, 1, 1, 0],
         [0, 1, -1, -1]],
        [[1, 0, 0],
         [1 / 2, 1 / 2, 1 / 2],
         [1 / 2, -1 / 2, 1 / 2],
         [0, 0, 1]],
        [[1, 0, -1, 0],
         [0, 1, 1, 0],
         [0, -1, 1, 0],
         [0, 1, 0, -1]]),
    4: ([[1, 1, 1, 1, 1, 0],
         [0, 1, -1, 2, -2, 0],
         [0, 1, 1, 4, 4, 0],
         [0, 1, -1, 8, -8, 1]],
        [[1 / 4, 0, 0],
         [-1 / 6, -1 / 6, -1 / 6],
         [-1 / 6, 1 / 6, -1 / 6],
         [1 / 24, 1 / 12, 1 / 6],
         [1 / 24, -1 / 12, 1 / 6],
         [0, 0, 1]],
        [[4, 0, -5, 0, 1, 0],
         [0, -4, -4, 1, 1, 0],
         [0, 4, -4, -1, 1, 0],
         [0, -2, -1, 2, 1, 0],
         [0, 2, -1, -2, 1, 0],
         [0, 4, 0, -5, 0, 1]]),
}


def matrices(m):
    """(A^T, G, B^T) of F(m x m, 3 x 3) as float64 arrays; m is 2 or 4."""
    if m not in MATRICES:
        raise ComputeError(f"winograd: output tile m={m!r} is not one of {sorted(MATRICES)}")
    return tuple(np.array(a, dtype=np.float64) for a in MATRICES[m])


def winograd_weight(w, m):
    """U[t, k, c] = (G w[k, c] G^T) flattened over its (m + 2)^2 positions t, from OIHW 3x3 weights
    (computed in float64, returned as float32)."""
    w = np.asarray(w)
    if w.ndim != 4 or w.shape[2:] != (3, 3):
        raise ComputeError(f"winograd_weight: weights must be (O, I, 3, 3), got shape {list(w.shape)}")
    _, G, _ = matrices(m)
    u = np.einsum("ai,kcij,bj->abkc", G, w.astype(np.float64), G)
    return u.reshape(-1, w.shape[0], w.shape[1]).astype(np.float32)


def _combination(coefs, terms):
    """sum(c * t) over the non-zero coefficients, with +-1 as additions and subtractions."""
    out = None
    for c, t in zip(coefs, terms):
        if c == 0:
            continue
        neg = c < 0
        term = t if abs(c) == 1 else t * E.const(float(abs(c)), t.dtype)
        if out is None:
            out = -term if neg else term
        else:
            out = out - term if neg else out + term
    return out


def _select(index, leaves):
    """leaves[index] for an integer expression `index`."""
    out = leaves[-1]
    for i in range(len(leaves) - 2, -1, -1):
        out = E.select(index == i, leaves[i], out)
    return out


def tiles(size, m):
    """Output tiles of m along a dimension of `size` pixels (the last one may be partial)."""
    return -(-size // m)


def conv2d_winograd(X, U, m, padding=1, name="wconv"):
    """A 3x3, stride-1 conv2d of X (N, C, H, W) with weights transformed by winograd_weight(w, m)
    (U: ((m + 2)^2, K, C)), output (N, K, H + 2p - 2, W + 2p - 2). Stages: `{name}.pad`, `{name}.v`
    (input transform), `{name}.m` (the GEMMs), `{name}` (output transform)."""
    if not isinstance(X, Tensor) or X.ndim != 4 or not isinstance(U, Tensor) or U.ndim != 3:
        raise ComputeError(f"conv2d_winograd {name!r}: X must be (N, C, H, W) and U ((m+2)^2, K, C), "
                           f"got {X!r} and {U!r}")
    at, _, bt = matrices(m)
    n = m + 2
    batch, c_in, h, w = X.shape
    if U.shape[0] != n * n or U.shape[2] != c_in:
        raise ComputeError(f"conv2d_winograd {name!r}: U has shape {list(U.shape)}, expected "
                           f"[{n * n}, K, {c_in}] for m={m} and {c_in} input channels")
    if not isinstance(padding, int) or not 0 <= padding <= 2:
        raise ComputeError(f"conv2d_winograd {name!r}: padding={padding!r} must be 0, 1 or 2")
    k_out = U.shape[1]
    oh, ow = h + 2 * padding - 2, w + 2 * padding - 2
    if oh < 1 or ow < 1:
        raise ComputeError(f"conv2d_winograd {name!r}: a 3x3 kernel does not fit the padded input "
                           f"{[h + 2 * padding, w + 2 * padding]}")
    th, tw = tiles(oh, m), tiles(ow, m)
    P = pad(X, (0, 0, padding, padding), (0, 0, th * m + 2 - h - padding, tw * m + 2 - w - padding),
            name=f"{name}.pad")
    per_image = th * tw

    def input_transform(t, q, c):
        b, ty, tx = q // per_image, q // tw % th, q % tw
        d = [[P[b, c, ty * m + i, tx * m + j] for j in range(n)] for i in range(n)]
        rows = [[_combination(bt[e], [d[i][j] for i in range(n)]) for j in range(n)] for e in range(n)]
        return _select(t, [_combination(bt[f], rows[e]) for e in range(n) for f in range(n)])

    V = compute((n * n, batch * per_image, c_in), input_transform, name=f"{name}.v",
                axis_names=("t", "q", "c"))
    rc = reduce_axis(c_in, "rc")
    M = compute((n * n, batch * per_image, k_out), lambda t, q, k: E.sum_(V[t, q, rc] * U[t, k, rc], axis=rc),
                name=f"{name}.m", axis_names=("t", "q", "k"))

    def output_transform(b, k, y, x):
        q = b * per_image + y // m * tw + x // m
        mt = [[M[e * n + f, q, k] for f in range(n)] for e in range(n)]
        rows = [[_combination(at[i], [mt[e][f] for e in range(n)]) for f in range(n)] for i in range(m)]
        return _select(y % m * m + x % m, [_combination(at[j], rows[i]) for i in range(m) for j in range(m)])

    return compute((batch, k_out, oh, ow), output_transform, name=name, axis_names=("n", "o", "y", "x"))


def winograd_stages(Y):
    """(pad, V, M) stage tensors of a conv2d_winograd output Y."""
    M = Y.op.input_tensors[0]
    V = M.op.input_tensors[0]
    P = V.op.input_tensors[0]
    return P, V, M


def winograd_layout(layout, channels, lanes):
    """The channel block of activation layout `layout` that schedule_winograd can read or write
    (`channels` whole vectors, contiguous): its block for NCHW<b>c with b whole vectors and no
    spatial tile, 0 for NHWC; None where it cannot (NCHW, spatial tiles, partial vectors)."""
    from ..graph.plan import blocked_parts
    if channels % lanes:
        return None
    if layout == "NHWC":
        return 0
    parts = blocked_parts(layout)
    if parts is None or parts[:2] != (1, 1) or parts[2] % lanes or channels % parts[2]:
        return None
    return parts[2]


def eligible(stride, padding, dilation, groups, kernel):
    """Can a conv2d with these attributes run as conv2d_winograd (3x3, stride 1, no dilation, one group,
    padding at most 2 on every side, the same on both axes)?"""
    two = lambda v: tuple(v) if isinstance(v, (tuple, list)) else (v, v)  # noqa: E731
    return (tuple(kernel) == (3, 3) and two(stride) == (1, 1) and two(dilation) == (1, 1) and groups == 1
            and len(set(two(padding))) == 1 and 0 <= two(padding)[0] <= 2)


def default_tile(oh, ow):
    """The output tile m of the target-independent default: F(4x4) where the output has at least 49
    tiles of 4 x 4 (a 28 x 28 image), F(2x2) below that, where F(4x4)'s 2.25x larger transformed
    weights are reused by too few tiles (Zen 3, ResNet's layers: F(4) 2.5-2.9x the direct
    convolution at 56 x 56 and 28 x 28, F(2) 2.0x at 14 x 14 where F(4) is 1.8x)."""
    return 4 if tiles(oh, 4) * tiles(ow, 4) >= 49 else 2


def _relayout(s, t, block):
    from .hand import relayout_blocked
    if block:
        relayout_blocked(s, t, block, 0)
    else:
        s.layout(t).reorder(0, 2, 3, 1)


def schedule_winograd(s, Y, layout=None, in_layout=None, rows=None, out=None, relayout_input=True):
    """Schedule a conv2d_winograd whose output (and `out`, the end of an elementwise epilogue fused
    into the output transform) is stored in `layout` (NCHW<b>c or NHWC; default NCHW<b>c with the
    block of the target's convolution tile) and whose input is stored in `in_layout`. The padding
    stage keeps the input's channel blocks (or NHWC) where they are whole vectors, and otherwise
    converts it (an NCHW input: a network's first layer) into the output's layout family.

    The input transform runs per tile and vector of input channels with the (m + 2)^2 positions
    unrolled (every position from the same loads); each position's GEMM keeps a `rows` x (one or
    more vectors) tile of accumulators in registers, with U stored in panels of those output
    channels (U[t][k // b][c][k % b]); the output transform runs per m x m tile and vector of output
    channels, unrolled over the tile. Returns s."""
    from .default import schedule_stage
    from .hand import conv_tile, inline_epilogue
    from ..target import current
    lanes = current().lanes(Y.dtype)
    P, V, M = winograd_stages(Y)
    X = P.op.input_tensors[0]
    U = M.op.input_tensors[1]
    n2, q_all, k_out = M.shape
    c_in = X.shape[1]
    m = int(round(n2 ** 0.5)) - 2
    if layout is None:
        layout = f"NCHW{conv_tile(Y.shape[3], k_out)[0] * lanes}c"
    ob = winograd_layout(layout, k_out, lanes)
    ib = winograd_layout(in_layout, c_in, lanes) if in_layout else None
    if ib is None and ob is not None:  # the padding stage converts the input
        ib = winograd_layout(f"NCHW{min(ob, c_in)}c" if ob else "NHWC", c_in, lanes)
    if ob is None or ib is None:
        raise ComputeError(f"schedule_winograd {Y.name!r}: layout {layout!r} is not NHWC or NCHW<b>c in whole "
                           f"vectors of {lanes} dividing {c_in} input and {k_out} output channels")
    for a in ([X] if relayout_input else []) + [P]:
        _relayout(s, a, ib)
    schedule_stage(s, s[P])
    # input transform: per (tile, vector of channels), every position t from the same loads
    sv = s[V]
    t_ax, q, c = sv.axis
    co, ci = sv.split(c, factor=lanes)
    sv.reorder(q, co, t_ax, ci)
    sv.parallel(q)
    sv.unroll(t_ax)
    sv.vectorize(ci)
    # one GEMM per position t, in register tiles
    vectors, tile_rows = conv_tile(q_all, k_out)
    rows = rows or tile_rows
    block = vectors * lanes
    s.layout(U).split(1, block).reorder(0, 1, 3, 2)
    MC = s.cache_write(M)
    sm = s[M]
    t_ax, q, k = sm.axis
    qo, qi = sm.split(q, factor=rows)
    ko, ki = sm.split(k, factor=block)
    sm.reorder(t_ax, ko, qo, qi, ki)
    sm.parallel(sm.fuse(t_ax, ko))
    sm.vectorize(ki)
    s[MC].compute_at(sm, qo)
    _, cq, ck = s[MC].axis
    (r,) = s[MC].reduce_axis
    s[MC].reorder(r, cq, ck)
    s[MC].unroll(cq)
    s[MC].vectorize(ck)
    # output transform, with the epilogue
    _relayout(s, Y if out is None else out, ob)  # an inlined Y needs no layout
    T = inline_epilogue(s, Y, out)
    if ob:
        nb, ko, y, x, ki = T.axis
        kio, kii = T.split(ki, factor=lanes)
        yo, yi = T.split(y, factor=m)
        xo, xi = T.split(x, factor=m)
        T.reorder(nb, ko, yo, xo, kio, yi, xi, kii)
        T.parallel(T.fuse(nb, ko, yo))
    else:
        nb, y, x, k = T.axis
        yo, yi = T.split(y, factor=m)
        xo, xi = T.split(x, factor=m)
        kio, kii = T.split(k, factor=lanes)
        T.reorder(nb, yo, xo, kio, yi, xi, kii)
        T.parallel(T.fuse(nb, yo))
    T.unroll(yi)
    T.unroll(xi)
    T.vectorize(kii)
    return s


# how a workload's logical input becomes what a kernel reads: a name and integer parameters (data
# in tuning records and run tasks, never code)
PREPARE = {"winograd": winograd_weight}


def prepare_input(spec, array):
    """`array` (a workload's logical input) as a kernel reads it, by `spec` ([name, *params], e.g.
    ["winograd", 4]: OIHW 3x3 weights transformed for F(4x4, 3x3))."""
    if not isinstance(spec, (list, tuple)) or not spec or spec[0] not in PREPARE or \
            not all(isinstance(v, int) for v in spec[1:]):
        raise ComputeError(f"prepare_input: {spec!r} is not [name, *integer parameters] with a name in "
                           f"{sorted(PREPARE)}")
    return PREPARE[spec[0]](array, *spec[1:])
