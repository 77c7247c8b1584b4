"""Compute definitions of the foundation operators: GEMM, conv2d (NCHW), bias add, ReLU."""
import numbers

from .. import expr as E
from ..errors import ComputeError
from ..tensor import Tensor, compute, reduce_axis


def _pair(v, what, lo):
    t = (v, v) if isinstance(v, numbers.Integral) else tuple(v)
    if len(t) != 2 or not all(isinstance(x, numbers.Integral) and x >= lo for x in t):
        raise ComputeError(f"{what}={v!r} must be an integer >= {lo} or a pair of them")
    return tuple(int(x) for x in t)


def _check(t, ndim, what):
    if not isinstance(t, Tensor) or t.ndim != ndim:
        raise ComputeError(f"{what} must be a {ndim}-d tensor, got {t!r}")


def matmul(A, B, name="C"):
    """C[i, j] = sum_k A[i, k] * B[k, j]."""
    _check(A, 2, "matmul: A")
    _check(B, 2, "matmul: B")
    if A.shape[1] != B.shape[0]:
        raise ComputeError(f"matmul {name!r}: A is {list(A.shape)} and B is {list(B.shape)}; "
                           "A's columns must equal B's rows")
    k = reduce_axis(A.shape[1], name="k")
    return compute((A.shape[0], B.shape[1]), lambda i, j: E.sum_(A[i, k] * B[k, j], axis=k), name=name)


def pad(X, pad_before, pad_after=None, value=0, name=None):
    """Zero (or `value`) padding of every dimension: pad_before/after are per-dimension lists."""
    pad_after = pad_before if pad_after is None else pad_after
    if len(pad_before) != X.ndim or len(pad_after) != X.ndim:
        raise ComputeError(f"pad of {X.name!r}: give one amount per dimension ({X.ndim}), "
                           f"got {list(pad_before)} and {list(pad_after)}")
    shape = tuple(n + b + a for n, b, a in zip(X.shape, pad_before, pad_after))

    def f(*idx):
        conds = [c for i, n, b, a in zip(idx, X.shape, pad_before, pad_after)
                 for c in ([i >= b] if b else []) + ([i < n + b] if a else [])]
        src = X[tuple(i - b if b else i for i, b in zip(idx, pad_before))]
        return E.select(E.all_(*conds), src, value) if conds else src

    return compute(shape, f, name=name or f"{X.name}.pad", tag="pad")


def conv2d_nchw(X, W, stride=1, padding=0, name="conv"):
    """out[n, o, y, x] = sum_{c, ry, rx} Xpad[n, c, y*sh + ry, x*sw + rx] * W[o, c, ry, rx]."""
    _check(X, 4, "conv2d_nchw: input X (N, C, H, W)")
    _check(W, 4, "conv2d_nchw: weight W (O, C, KH, KW)")
    sh, sw = _pair(stride, f"conv2d_nchw {name!r}: stride", 1)
    ph, pw = _pair(padding, f"conv2d_nchw {name!r}: padding", 0)
    batch, c_in, h, w = X.shape
    c_out, c_w, kh, kw = W.shape
    if c_in != c_w:
        raise ComputeError(f"conv2d_nchw {name!r}: input has {c_in} channels but the weight expects {c_w}")
    oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    if oh < 1 or ow < 1:
        raise ComputeError(f"conv2d_nchw {name!r}: kernel {kh}x{kw} does not fit the padded input "
                           f"{h + 2 * ph}x{w + 2 * pw}")
    P = pad(X, (0, 0, ph, pw), name=f"{name}.pad") if (ph or pw) else X
    rc, ry, rx = reduce_axis(c_in, "rc"), reduce_axis(kh, "ry"), reduce_axis(kw, "rx")
    return compute((batch, c_out, oh, ow),
                   lambda n, o, y, x: E.sum_(P[n, rc, y * sh + ry, x * sw + rx] * W[o, rc, ry, rx],
                                             axis=[rc, ry, rx]),
                   name=name)


def bias_add(X, b, axis=1, name=None):
    """X + b broadcast along `axis` (the channel axis of NCHW by default)."""
    if b.ndim != 1 or not 0 <= axis < X.ndim or X.shape[axis] != b.shape[0]:
        raise ComputeError(f"bias_add: bias {b.name!r} of shape {list(b.shape)} does not match axis {axis} "
                           f"of {X.name!r} {list(X.shape)}")
    return compute(X.shape, lambda *i: X[i] + b[i[axis]], name=name or f"{X.name}.bias", tag="injective")


def relu(X, name=None):
    """max(X, 0)."""
    return compute(X.shape, lambda *i: E.max_(X[i], E.const(0, X.dtype)), name=name or f"{X.name}.relu",
                   tag="injective")
