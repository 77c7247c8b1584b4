"""Compute definitions of the non-convolution operators (logical NCHW-style layouts)."""
import math
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
    """Zero (or `value`) padding of every dimension: pad_before/after are per-dimension lists of
    whole numbers (a negative amount crops, as torch.nn.functional.pad does)."""
    pad_after = pad_before if pad_after is None else pad_after
    if len(pad_before) != X.ndim or len(pad_after) != X.ndim:
        raise ComputeError(f"pad of {X.name!r}: give one amount per dimension ({X.ndim}), "
                           f"got {list(pad_before)} and {list(pad_after)}")
    for amount in (*pad_before, *pad_after):
        if not isinstance(amount, numbers.Integral) or isinstance(amount, bool):
            raise ComputeError(f"pad of {X.name!r}: amount {amount!r} in {list(pad_before)} / {list(pad_after)} is not "
                               "a whole number (a negative one crops)")
    shape = tuple(n + b + a for n, b, a in zip(X.shape, pad_before, pad_after))
    if min(shape) < 1:
        raise ComputeError(f"pad of {X.name!r}: padding {list(pad_before)} before and {list(pad_after)} after "
                           f"{list(X.shape)} leaves the shape {list(shape)}; a dimension must keep at least 1 element")

    def f(*idx):
        conds = [c for i, n, b, a in zip(idx, X.shape, pad_before, pad_after)
                 for c in ([i >= b] if b else []) + ([i < n + b] if a else [])]
        src = X[tuple(i - b if b else i for i, b in zip(idx, pad_before))]
        return E.select(E.all_(*conds), src, value) if conds else src

    return compute(shape, f, name=name or f"{X.name}.pad", tag="pad")


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


def batch_matmul(A, B, name="C"):
    """C[b, i, j] = sum_k A[b, i, k] * B[b, k, j]."""
    _check(A, 3, "batch_matmul: A")
    _check(B, 3, "batch_matmul: B")
    if A.shape[0] != B.shape[0] or A.shape[2] != B.shape[1]:
        raise ComputeError(f"batch_matmul {name!r}: A is {list(A.shape)} and B is {list(B.shape)}; "
                           "need equal batches and A's columns equal to B's rows")
    k = reduce_axis(A.shape[2], name="k")
    return compute((A.shape[0], A.shape[1], B.shape[2]), lambda b, i, j: E.sum_(A[b, i, k] * B[b, k, j], axis=k),
                   name=name)


def dense(X, W, bias=None, name="dense"):
    """out[i, j] = sum_k X[i, k] * W[j, k] (+ bias[j]), W as (out_features, in_features)."""
    _check(X, 2, "dense: X")
    _check(W, 2, "dense: W")
    if X.shape[1] != W.shape[1]:
        raise ComputeError(f"dense {name!r}: X is {list(X.shape)} and W is {list(W.shape)}; "
                           "W must be (out_features, in_features)")
    k = reduce_axis(X.shape[1], name="k")
    out = compute((X.shape[0], W.shape[0]), lambda i, j: E.sum_(X[i, k] * W[j, k], axis=k), name=name)
    return bias_add(out, bias, axis=1, name=f"{name}.bias") if bias is not None else out


def _same_shape(a, b, what):
    if a.shape != b.shape or a.dtype != b.dtype:
        raise ComputeError(f"{what}: {a.name!r} {a.dtype}{list(a.shape)} and {b.name!r} {b.dtype}{list(b.shape)} "
                           "must have the same shape and dtype")


def add(A, B, name=None):
    _same_shape(A, B, "add")
    return compute(A.shape, lambda *i: A[i] + B[i], name=name or f"{A.name}.add", tag="injective")


def multiply(A, B, name=None):
    _same_shape(A, B, "multiply")
    return compute(A.shape, lambda *i: A[i] * B[i], name=name or f"{A.name}.mul", tag="injective")


def batch_norm(X, scale, shift, axis=1, name=None):
    """Inference-form batch norm, folded to X * scale[c] + shift[c] along `axis`."""
    for t in (scale, shift):
        if t.ndim != 1 or X.shape[axis] != t.shape[0]:
            raise ComputeError(f"batch_norm: {t.name!r} of shape {list(t.shape)} does not match axis {axis} "
                               f"of {X.name!r} {list(X.shape)}")
    return compute(X.shape, lambda *i: X[i] * scale[i[axis]] + shift[i[axis]], name=name or f"{X.name}.bn",
                   tag="injective")


def _pool(X, kernel, stride, padding, kind, name):
    _check(X, 4, f"{kind}_pool2d: X (N, C, H, W)")
    kh, kw = _pair(kernel, f"{kind}_pool2d {name!r}: kernel", 1)
    sh, sw = _pair(stride if stride is not None else kernel, f"{kind}_pool2d {name!r}: stride", 1)
    ph, pw = _pair(padding, f"{kind}_pool2d {name!r}: padding", 0)
    n, c, h, w = X.shape
    oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    if oh < 1 or ow < 1:
        raise ComputeError(f"{kind}_pool2d {name!r}: window {kh}x{kw} does not fit the input {h}x{w}")
    fill = E.identity("max", X.dtype) if kind == "max" else 0
    P = pad(X, (0, 0, ph, pw), value=fill, name=f"{name}.pad") if (ph or pw) else X
    ry, rx = reduce_axis(kh, "ry"), reduce_axis(kw, "rx")
    if kind == "max":
        return compute((n, c, oh, ow), lambda b, ch, y, x: E.max_(P[b, ch, y * sh + ry, x * sw + rx], axis=[ry, rx]),
                       name=name)
    S = compute((n, c, oh, ow), lambda b, ch, y, x: E.sum_(P[b, ch, y * sh + ry, x * sw + rx], axis=[ry, rx]),
                name=f"{name}.sum")
    return compute(S.shape, lambda *i: S[i] * (1.0 / (kh * kw)), name=name, tag="injective")


def max_pool2d(X, kernel, stride=None, padding=0, name="maxpool"):
    """Max over kh x kw windows; padding never wins (it is -inf)."""
    return _pool(X, kernel, stride, padding, "max", name)


def avg_pool2d(X, kernel, stride=None, padding=0, name="avgpool"):
    """Mean over kh x kw windows, padding counted as zeros (PyTorch's count_include_pad=True)."""
    return _pool(X, kernel, stride, padding, "avg", name)


def global_avg_pool2d(X, name="gap"):
    """(N, C, H, W) -> (N, C): the mean over H and W."""
    _check(X, 4, "global_avg_pool2d: X (N, C, H, W)")
    n, c, h, w = X.shape
    ry, rx = reduce_axis(h, "ry"), reduce_axis(w, "rx")
    S = compute((n, c), lambda b, ch: E.sum_(X[b, ch, ry, rx], axis=[ry, rx]), name=f"{name}.sum")
    return compute((n, c), lambda b, ch: S[b, ch] * (1.0 / (h * w)), name=name, tag="injective")


def softmax(X, name="softmax"):
    """Softmax over the last axis, computed stably (max subtracted first)."""
    *lead, n = X.shape
    k = reduce_axis(n, "k")
    M = compute(lead or (1,), lambda *i: E.max_(X[i + (k,)] if lead else X[k], axis=k), name=f"{name}.max",
                axis_names=[f"i{d}" for d in range(max(1, len(lead)))])
    idx = (lambda i: i[:-1]) if lead else (lambda i: (0,))
    names = [f"i{d}" for d in range(X.ndim)]
    # the exponentials are a stage of their own: a default schedule inlines them (into the sum and
    # the output), a row-fused one (alt.ops.default.row_fused) computes them once per row tile
    Ex = compute(X.shape, lambda *i: E.exp(X[i] - M[idx(i)]), name=f"{name}.exp", tag="injective", axis_names=names)
    k2 = reduce_axis(n, "k")
    S = compute(lead or (1,), lambda *i: E.sum_(Ex[i + (k2,)] if lead else Ex[k2], axis=k2),
                name=f"{name}.sum", axis_names=[f"i{d}" for d in range(max(1, len(lead)))])
    one = E.const(1.0, X.dtype)
    return compute(X.shape, lambda *i: Ex[i] * (one / S[idx(i)]), name=name, axis_names=names)  # 1/S: once a row


def layer_norm(X, gamma, beta, eps=1e-5, name="layernorm"):
    """Normalize over the last axis: (x - mean) / sqrt(var + eps) * gamma + beta."""
    *lead, n = X.shape
    if not lead:
        raise ComputeError(f"layer_norm {name!r}: X must have at least 2 dimensions, got {list(X.shape)}")
    for t in (gamma, beta):
        if t.shape != (n,):
            raise ComputeError(f"layer_norm {name!r}: {t.name!r} has shape {list(t.shape)}, expected [{n}]")
    names = [f"i{d}" for d in range(len(lead))]
    k = reduce_axis(n, "k")
    mean = compute(lead, lambda *i: E.sum_(X[i + (k,)], axis=k), name=f"{name}.sum", axis_names=names)
    k2 = reduce_axis(n, "k")
    sq = compute(lead, lambda *i: E.sum_(X[i + (k2,)] * X[i + (k2,)], axis=k2), name=f"{name}.sumsq",
                 axis_names=names)
    inv, one = 1.0 / n, E.const(1.0, X.dtype)

    def body(*i):
        mu = mean[i[:-1]] * inv
        var = sq[i[:-1]] * inv - mu * mu
        return (X[i] - mu) * (one / E.sqrt(var + eps)) * gamma[i[-1]] + beta[i[-1]]  # 1/sqrt: once a row

    return compute(X.shape, body, name=name, axis_names=names + ["j"])


def norm(X, name="norm"):
    """NRM of the MetaSchedule suite: out[b] = sqrt(sum_{i, j} X[b, i, j]^2)."""
    _check(X, 3, "norm: X (B, M, N)")
    i, j = reduce_axis(X.shape[1], "i"), reduce_axis(X.shape[2], "j")
    S = compute((X.shape[0],), lambda b: E.sum_(X[b, i, j] * X[b, i, j], axis=[i, j]), name=f"{name}.sumsq")
    return compute((X.shape[0],), lambda b: E.sqrt(S[b]), name=name, tag="injective")


def layout_transform(X, name=None):
    """A copy of X, to be given another layout than X's with s.layout(...): the layout conversion
    operator, scheduled like any other."""
    return compute(X.shape, lambda *i: X[i], name=name or f"{X.name}.relayout", tag="layout_transform",
                   axis_names=[f"i{d}" for d in range(X.ndim)])


def clip(X, lo, hi, name=None):
    """min(max(X, lo), hi); clip(X, 0, 6) is ReLU6."""
    return compute(X.shape, lambda *i: E.min_(E.max_(X[i], E.const(lo, X.dtype)), E.const(hi, X.dtype)),
                   name=name or f"{X.name}.clip", tag="injective")


def scale(X, factor, name=None):
    """X * factor for a Python number."""
    return compute(X.shape, lambda *i: X[i] * factor, name=name or f"{X.name}.scale", tag="injective")


def gelu(X, name=None):
    """GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    c = 0.7978845608028654

    def f(*i):
        x = X[i]
        return 0.5 * x * (1.0 + E.tanh(c * (x + 0.044715 * x * x * x)))

    return compute(X.shape, f, name=name or f"{X.name}.gelu", tag="injective")


def reshape(X, shape, name=None):
    """The same elements in row-major order under a new shape."""
    shape = tuple(int(d) for d in shape)
    if math.prod(shape) != math.prod(X.shape):
        raise ComputeError(f"reshape of {X.name!r}: {list(X.shape)} has {math.prod(X.shape)} elements, "
                           f"{list(shape)} has {math.prod(shape)}")

    def f(*i):
        flat = 0
        for idx, n in zip(i, shape):
            flat = flat * n + idx
        src = []
        for n in reversed(X.shape):
            src.append(flat % n)
            flat = flat // n
        return X[tuple(reversed(src))]

    return compute(shape, f, name=name or f"{X.name}.reshape", axis_names=[f"i{d}" for d in range(len(shape))])


def transpose(X, axes, name=None):
    """out[i_0, ..., i_n] = X[i at the positions `axes` names]: numpy's transpose."""
    axes = tuple(axes)
    if sorted(axes) != list(range(X.ndim)):
        raise ComputeError(f"transpose of {X.name!r}: axes {list(axes)} are not a permutation of 0..{X.ndim - 1}")
    shape = tuple(X.shape[a] for a in axes)

    def f(*i):
        src = [None] * X.ndim
        for pos, a in enumerate(axes):
            src[a] = i[pos]
        return X[tuple(src)]

    return compute(shape, f, name=name or f"{X.name}.transpose", axis_names=[f"i{d}" for d in range(X.ndim)])
