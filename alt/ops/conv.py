"""Convolutions: N-d (C1D, C2D, C3D) with stride, padding, dilation and groups (GRP, DIL, DEP),
and transposed 2-d convolution (T2D). Logical layouts are NC + spatial (NCW, NCHW, NCDHW)."""
import numbers

from .. import expr as E
from ..errors import ComputeError
from ..tensor import Tensor, compute, reduce_axis
from .nn import pad

SPATIAL_NAMES = {1: ("x",), 2: ("y", "x"), 3: ("z", "y", "x")}


def _tuple(v, n, what, lo):
    t = (v,) * n if isinstance(v, numbers.Integral) else tuple(v)
    if len(t) != n or not all(isinstance(x, numbers.Integral) and x >= lo for x in t):
        raise ComputeError(f"{what}={v!r} must be an integer >= {lo} or {n} of them")
    return tuple(int(x) for x in t)


def conv(X, W, stride=1, padding=0, dilation=1, groups=1, name="conv"):
    """out[n, o, *y] = sum_{c, *r} Xpad[n, g(o)*C/g + c, *(y*s + r*d)] * W[o, c, *r], with
    X (N, C, *S), W (O, C/groups, *K). 1, 2 or 3 spatial dimensions."""
    if not isinstance(X, Tensor) or not isinstance(W, Tensor) or X.ndim != W.ndim or X.ndim not in (3, 4, 5):
        raise ComputeError(f"conv {name!r}: X (N, C, *spatial) and W (O, C/groups, *kernel) must both have 3, 4 "
                           f"or 5 dimensions, got {X!r} and {W!r}")
    nd = X.ndim - 2
    s = _tuple(stride, nd, f"conv {name!r}: stride", 1)
    p = _tuple(padding, nd, f"conv {name!r}: padding", 0)
    d = _tuple(dilation, nd, f"conv {name!r}: dilation", 1)
    batch, c_in, *size = X.shape
    c_out, c_per_group, *kernel = W.shape
    if not isinstance(groups, numbers.Integral) or groups < 1 or c_in % groups or c_out % groups:
        raise ComputeError(f"conv {name!r}: groups={groups!r} must divide both the {c_in} input and the "
                           f"{c_out} output channels")
    if c_per_group != c_in // groups:
        raise ComputeError(f"conv {name!r}: input has {c_in} channels but the weight expects "
                           f"{c_per_group * groups} ({c_per_group} per group x {groups} groups)")
    out = [(n + 2 * pp - dd * (k - 1) - 1) // ss + 1 for n, pp, dd, k, ss in zip(size, p, d, kernel, s)]
    if min(out) < 1:
        raise ComputeError(f"conv {name!r}: kernel {kernel} (dilation {list(d)}) does not fit the padded input "
                           f"{[n + 2 * pp for n, pp in zip(size, p)]}")
    P = pad(X, (0, 0) + p, name=f"{name}.pad") if any(p) else X
    rc = reduce_axis(c_per_group, "rc")
    rs = [reduce_axis(k, f"r{nm}") for k, nm in zip(kernel, SPATIAL_NAMES[nd])]
    out_per_group = c_out // groups

    def body(n, o, *ys):
        c = rc if groups == 1 else (o // out_per_group) * c_per_group + rc
        src = P[(n, c) + tuple(y * ss + r * dd for y, ss, r, dd in zip(ys, s, rs, d))]
        return E.sum_(src * W[(o, rc) + tuple(rs)], axis=[rc] + rs)

    return compute((batch, c_out, *out), body, name=name, axis_names=("n", "o") + SPATIAL_NAMES[nd])


def conv2d_nchw(X, W, stride=1, padding=0, dilation=1, groups=1, name="conv"):
    """2-d convolution, NCHW input, OIHW weight."""
    if not isinstance(X, Tensor) or X.ndim != 4 or not isinstance(W, Tensor) or W.ndim != 4:
        raise ComputeError(f"conv2d_nchw {name!r}: X (N, C, H, W) and W (O, C, KH, KW) must be 4-d, "
                           f"got {X!r} and {W!r}")
    return conv(X, W, stride, padding, dilation, groups, name)


def depthwise_conv2d_nchw(X, W, stride=1, padding=0, dilation=1, name="dwconv"):
    """Depthwise convolution: W is (C * multiplier, 1, KH, KW)."""
    return conv(X, W, stride, padding, dilation, groups=X.shape[1], name=name)


def conv2d_transpose_nchw(X, W, stride=1, padding=0, name="tconv"):
    """Transposed 2-d convolution (the gradient of conv2d w.r.t. its input), W as (C_in, C_out, KH, KW)
    like torch.nn.functional.conv_transpose2d: out size (H - 1) * stride - 2 * padding + K."""
    if not isinstance(X, Tensor) or X.ndim != 4 or not isinstance(W, Tensor) or W.ndim != 4:
        raise ComputeError(f"conv2d_transpose {name!r}: X and W must be 4-d, got {X!r} and {W!r}")
    s = _tuple(stride, 2, f"conv2d_transpose {name!r}: stride", 1)
    p = _tuple(padding, 2, f"conv2d_transpose {name!r}: padding", 0)
    batch, c_in, h, w = X.shape
    c_w, c_out, kh, kw = W.shape
    if c_w != c_in:
        raise ComputeError(f"conv2d_transpose {name!r}: input has {c_in} channels but the weight expects {c_w}")
    if p[0] > kh - 1 or p[1] > kw - 1:
        raise ComputeError(f"conv2d_transpose {name!r}: padding {list(p)} must be at most kernel - 1 "
                           f"({kh - 1}, {kw - 1})")
    # The convolution over the input dilated by the stride, without the dilation's zeros (the
    # sub-pixel form): output row y takes kernel rows ky = (y + p) % s + s*t from input rows
    # (y + p) // s - t, t < ceil(k / s), and likewise for columns. So every multiply-add is useful
    # (4x fewer than over the dilated input at stride 2).
    taps = tuple(-(-k // st) for k, st in zip((kh, kw), s))
    lo = tuple(max(0, t - 1 - pp // st) for t, pp, st in zip(taps, p, s))  # input rows read below 0 ...
    hi = tuple((k - 1 - pp) // st for k, pp, st in zip((kh, kw), p, s))  # ... and past the last
    P = pad(X, (0, 0) + lo, (0, 0) + hi, name=f"{name}.pad") if any(lo + hi) else X
    rc, ty, tx = reduce_axis(c_in, "rc"), reduce_axis(taps[0], "ry"), reduce_axis(taps[1], "rx")
    oh, ow = (h - 1) * s[0] - 2 * p[0] + kh, (w - 1) * s[1] - 2 * p[1] + kw

    def body(n, o, y, x):
        ky, kx = (y + p[0]) % s[0] + s[0] * ty, (x + p[1]) % s[1] + s[1] * tx
        i, j = (y + p[0]) // s[0] - ty + lo[0], (x + p[1]) // s[1] - tx + lo[1]
        if kh % s[0] or kw % s[1]:  # the last tap of some phases lies past the kernel: it adds 0
            inside = E.all_(ky < kh, kx < kw)
            ky, kx = E.binary("min", ky, kh - 1), E.binary("min", kx, kw - 1)
            return E.sum_(E.select(inside, P[n, rc, i, j] * W[rc, o, ky, kx], 0.0), axis=[rc, ty, tx])
        return E.sum_(P[n, rc, i, j] * W[rc, o, ky, kx], axis=[rc, ty, tx])

    return compute((batch, c_out, oh, ow), body, name=name)
