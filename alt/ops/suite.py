"""The standard single-operator benchmark suite, as data.

Shapes follow the suite of Ansor / TVM MetaSchedule (C1D ... SFM, four configurations each),
written here in alt's logical NC(D)HW layouts, plus the convolution layers of ResNet-18 and
ResNet-50 and the remaining operators of alt.ops. Each Workload builds its compute definition
and knows its FLOP count and the same operation in PyTorch (the benchmarks' reference).
"""
import importlib
import os
import sys
import math
from dataclasses import dataclass, field

from .. import expr as E
from ..errors import WorkloadError
from ..schedule import topo_order
from ..tensor import PlaceholderOp, placeholder
from . import nn as N
from .conv import conv, conv2d_nchw, conv2d_transpose_nchw, depthwise_conv2d_nchw


@dataclass(frozen=True)
class Workload:
    op: str  # the suite's operator code, e.g. "C2D", or a user operator "package.module:function"
    name: str  # unique, e.g. "C2D-1" or "R50-7"
    params: tuple = field(default=())

    def build(self):
        """(input placeholders, output tensor) of a fresh compute definition."""
        if self.op in _KINDS:
            return _KINDS[self.op][0](*self.params)
        result = user_operator(self.op)(*self.params)
        if not (isinstance(result, tuple) and len(result) == 2):
            raise WorkloadError(f"user operator {self.op}{tuple(self.params)} returned {type(result).__name__}; "
                                "it must return (list of input placeholders, output tensor)")
        return result

    @property
    def flops(self):
        if self.op in _KINDS:
            return _KINDS[self.op][1](*self.params)
        return flop_count(self.build()[1])

    def torch(self, *arrays):
        """The same operation in PyTorch (CPU) on numpy inputs; returns a numpy array."""
        import torch
        return self.torch_call(torch, *[torch.from_numpy(a) for a in arrays]).contiguous().numpy()

    def torch_call(self, torch, *tensors):
        """The same operation on torch tensors (for timing PyTorch without conversions)."""
        if self.op not in _KINDS:
            raise WorkloadError(f"workload {self.name}: the user operator {self.op} has no PyTorch equivalent")
        return _KINDS[self.op][2](torch, *tensors, *self.params)


def user_workload(fn, params):
    """A Workload for a user operator: `fn(*params)` returns (input placeholders, output tensor).

    Builder processes find `fn` again by its module and name, so it must be a top-level function of
    an importable module (or of the script being run)."""
    qual = getattr(fn, "__qualname__", "")
    if not callable(fn) or not qual or "<" in qual:
        raise WorkloadError(f"user operator {fn!r} must be a top-level function (not a lambda or a nested "
                            "function), so that builder processes can import it by name")
    return Workload(f"{fn.__module__}:{qual}", f"{fn.__name__}-{'x'.join(map(str, params))}", tuple(params))


def user_operator(op):
    """The function named by a user operator code 'package.module:function'."""
    module, sep, qual = op.partition(":")
    if not sep or not module or not qual:
        raise WorkloadError(f"no operator {op!r}; known: {operator_codes()} or a user operator "
                            "'package.module:function'")
    try:
        obj = importlib.import_module(module)
        for part in qual.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as e:
        hint = ""
        if "" not in sys.path and os.getcwd() not in sys.path:
            hint = (f"; the current folder {os.getcwd()} is not on PYTHONPATH: run `PYTHONPATH=. alt ...` or "
                    "`python -m alt ...`, or install your package")
        raise WorkloadError(f"user operator {op!r} cannot be imported here ({e}); define it at the top level of "
                            f"an importable module{hint}") from None
    return obj


def flop_count(out):
    """Floating-point operations of a compute definition: arithmetic and math calls on floats, per
    output element (a reduction adds its combine), summed over every stage `out` depends on."""
    total = 0.0
    for t in topo_order([out]):
        if isinstance(t.op, PlaceholderOp):
            continue
        body = t.op.body
        per = sum(1 for e in E.walk(body) if isinstance(e, (E.Binary, E.Call)) and e.dtype.startswith("float"))
        per += isinstance(body, E.Reduce)
        total += per * math.prod(t.shape) * math.prod(a.extent for a in t.op.reduce_axis)
    return total


def _ph(shape, name):
    return placeholder(shape, name=name)


# builders, flop counts and PyTorch equivalents, per operator kind --------------------------

def _conv_build(nd):
    def build(n, c, size, o, k, s, p, d=1, g=1):
        X = _ph((n, c) + (size,) * nd, "X")
        W = _ph((o, c // g) + (k,) * nd, "W")
        return [X, W], conv(X, W, stride=s, padding=p, dilation=d, groups=g)
    return build


def _c3d_build(n, c, size, o, k, s, p, depth=None):
    """A 3-d convolution over `depth` x size x size (MetaSchedule's configurations use depth 16)."""
    X = _ph((n, c, size if depth is None else depth, size, size), "X")
    W = _ph((o, c, k, k, k), "W")
    return [X, W], conv(X, W, stride=s, padding=p)


def _c3d_flops(n, c, size, o, k, s, p, depth=None):
    out_depth = _conv_out(size if depth is None else depth, k, s, p)
    return 2.0 * n * o * c * k ** 3 * out_depth * _conv_out(size, k, s, p) ** 2


def _conv_out(size, k, s, p, d=1):
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def _conv_flops(nd):
    def flops(n, c, size, o, k, s, p, d=1, g=1):
        return 2.0 * n * o * (c // g) * k ** nd * _conv_out(size, k, s, p, d) ** nd
    return flops


def _conv_torch(nd):
    def run(torch, x, w, n, c, size, o, k, s, p, d=1, g=1):
        f = getattr(torch.nn.functional, f"conv{nd}d")
        return f(x, w, stride=s, padding=p, dilation=d, groups=g)
    return run


def _dep_build(n, c, size, k, s, p):
    X, W = _ph((n, c, size, size), "X"), _ph((c, 1, k, k), "W")
    return [X, W], depthwise_conv2d_nchw(X, W, stride=s, padding=p)


def _t2d_build(n, c, size, o, k, s, p):
    X, W = _ph((n, c, size, size), "X"), _ph((c, o, k, k), "W")
    return [X, W], conv2d_transpose_nchw(X, W, stride=s, padding=p)


def _t2d_flops(n, c, size, o, k, s, p):
    out = (size - 1) * s - 2 * p + k
    return 2.0 * n * c * o * k * k * out * out / (s * s)  # the useful (non-zero) multiply-adds


def _cbr_build(n, c, size, o, k, s, p):
    X, W, b = _ph((n, c, size, size), "X"), _ph((o, c, k, k), "W"), _ph((o,), "b")
    Y = conv2d_nchw(X, W, stride=s, padding=p)
    return [X, W, b], N.relu(N.bias_add(Y, b), name="cbr")


def _gmm_build(m, n, k):
    A, B = _ph((m, k), "A"), _ph((k, n), "B")
    return [A, B], N.matmul(A, B)


def _bmm_build(b, m, n, k):
    A, B = _ph((b, m, k), "A"), _ph((b, k, n), "B")
    return [A, B], N.batch_matmul(A, B)


def _dense_build(m, n, k):
    X, W, b = _ph((m, k), "X"), _ph((n, k), "W"), _ph((n,), "b")
    return [X, W, b], N.dense(X, W, b)


def _pool_build(kind):
    def build(n, c, size, k, s, p):
        X = _ph((n, c, size, size), "X")
        f = N.max_pool2d if kind == "max" else N.avg_pool2d
        return [X], f(X, k, s, p)
    return build


def _pool_flops(n, c, size, k, s, p):
    return float(n * c * _conv_out(size, k, s, p) ** 2 * k * k)


def _unary_build(fn):
    def build(*shape):
        X = _ph(shape, "X")
        return [X], fn(X)
    return build


def _binary_build(fn):
    def build(*shape):
        A, B = _ph(shape, "A"), _ph(shape, "B")
        return [A, B], fn(A, B)
    return build


def _bias_build(*shape):
    X, b = _ph(shape, "X"), _ph((shape[1],), "b")
    return [X, b], N.bias_add(X, b)


def _bn_build(*shape):
    X, sc, sh = _ph(shape, "X"), _ph((shape[1],), "scale"), _ph((shape[1],), "shift")
    return [X, sc, sh], N.batch_norm(X, sc, sh)


def _ln_build(m, n):
    X, g, b = _ph((m, n), "X"), _ph((n,), "gamma"), _ph((n,), "beta")
    return [X, g, b], N.layer_norm(X, g, b)


def _numel(*shape):
    out = 1.0
    for d in shape:
        out *= d
    return out


def channel_view(t, v):
    return v.reshape(1, -1, *([1] * (t.ndim - 2)))


_KINDS = {
    "C1D": (_conv_build(1), _conv_flops(1), _conv_torch(1)),
    "C2D": (_conv_build(2), _conv_flops(2), _conv_torch(2)),
    "C3D": (_c3d_build, _c3d_flops,
            lambda torch, x, w, n, c, size, o, k, s, p, depth=None: torch.nn.functional.conv3d(x, w, stride=s,
                                                                                               padding=p)),
    "GRP": (_conv_build(2), _conv_flops(2), _conv_torch(2)),
    "DIL": (_conv_build(2), _conv_flops(2), _conv_torch(2)),
    "DEP": (_dep_build, lambda n, c, size, k, s, p: 2.0 * n * c * k * k * _conv_out(size, k, s, p) ** 2,
            lambda torch, x, w, n, c, size, k, s, p: torch.nn.functional.conv2d(x, w, stride=s, padding=p, groups=c)),
    "T2D": (_t2d_build, _t2d_flops,
            lambda torch, x, w, n, c, size, o, k, s, p: torch.nn.functional.conv_transpose2d(x, w, stride=s,
                                                                                              padding=p)),
    "CBR": (_cbr_build, lambda n, c, size, o, k, s, p: _conv_flops(2)(n, c, size, o, k, s, p),
            lambda torch, x, w, b, n, c, size, o, k, s, p: torch.relu(
                torch.nn.functional.conv2d(x, w, b, stride=s, padding=p))),
    "GMM": (_gmm_build, lambda m, n, k: 2.0 * m * n * k, lambda torch, a, b, m, n, k: a @ b),
    "BMM": (_bmm_build, lambda b, m, n, k: 2.0 * b * m * n * k, lambda torch, a, b, *_: torch.bmm(a, b)),
    "DEN": (_dense_build, lambda m, n, k: 2.0 * m * n * k,
            lambda torch, x, w, b, *_: torch.nn.functional.linear(x, w, b)),
    "MXP": (_pool_build("max"), _pool_flops,
            lambda torch, x, n, c, size, k, s, p: torch.nn.functional.max_pool2d(x, k, s, p)),
    "AVP": (_pool_build("avg"), _pool_flops,
            lambda torch, x, n, c, size, k, s, p: torch.nn.functional.avg_pool2d(x, k, s, p)),
    "GAP": (_unary_build(N.global_avg_pool2d), _numel, lambda torch, x, *_: x.mean(dim=(2, 3))),
    "ADD": (_binary_build(N.add), _numel, lambda torch, a, b, *_: a + b),
    "MUL": (_binary_build(N.multiply), _numel, lambda torch, a, b, *_: a * b),
    "RELU": (_unary_build(N.relu), _numel, lambda torch, x, *_: torch.relu(x)),
    "BIAS": (_bias_build, _numel, lambda torch, x, b, *_: x + channel_view(x, b)),
    "BN": (_bn_build, lambda *s: 2 * _numel(*s), lambda torch, x, sc, sh, *_: x * channel_view(x, sc) + channel_view(x, sh)),
    "SFM": (_unary_build(N.softmax), lambda m, n: 4.0 * m * n, lambda torch, x, *_: torch.softmax(x, dim=-1)),
    "NRM": (_unary_build(N.norm), lambda b, m, n: 2.0 * b * m * n,
            lambda torch, x, *_: torch.sqrt((x * x).sum(dim=(1, 2)))),
    "LN": (_ln_build, lambda m, n: 8.0 * m * n,
           lambda torch, x, g, b, m, n: torch.nn.functional.layer_norm(x, (n,), g, b, eps=1e-5)),
}

# (n, c, size, o, k, stride, pad[, dilation, groups]; C3D: [, depth]) in the order of MetaSchedule's configs
_SUITE = {
    "C1D": [(1, 64, 256, 128, 3, 2, 1), (1, 128, 128, 256, 1, 2, 0), (1, 256, 64, 256, 5, 1, 2),
            (1, 512, 32, 512, 3, 1, 1)],
    "C2D": [(1, 3, 224, 64, 7, 2, 3), (1, 64, 56, 64, 1, 1, 0), (1, 256, 14, 256, 3, 1, 1),
            (1, 512, 7, 512, 3, 1, 1)],
    "C3D": [(1, 3, 224, 64, 7, 2, 3, 16), (1, 64, 56, 64, 1, 1, 0, 16), (1, 256, 14, 256, 3, 1, 1, 16),
            (1, 512, 7, 512, 3, 1, 1, 16)],  # (..., depth): 16 frames, as MetaSchedule's
    "GMM": [(128, 128, 128), (512, 32, 512), (512, 512, 512), (1024, 1024, 1024)],  # (m, n, k)
    "BMM": [(12, 128, 128, 64), (12, 128, 64, 128), (16, 128, 128, 128)],  # (batch, m, n, k)
    "GRP": [(1, 64, 56, 128, 3, 2, 1, 1, 4), (1, 64, 56, 64, 1, 1, 0, 1, 4), (1, 256, 14, 256, 3, 1, 1, 1, 4),
            (1, 512, 7, 512, 3, 1, 1, 1, 4)],
    "DIL": [(1, 3, 224, 64, 7, 2, 3, 2), (1, 64, 56, 64, 1, 1, 0, 2), (1, 256, 14, 256, 3, 1, 1, 2),
            (1, 512, 7, 512, 3, 1, 1, 2)],
    "DEP": [(1, 32, 112, 3, 1, 1), (1, 64, 112, 3, 2, 1), (1, 512, 14, 3, 2, 1), (1, 1024, 7, 3, 1, 1)],
    "T2D": [(1, 512, 4, 256, 4, 2, 1), (1, 256, 8, 128, 4, 2, 1), (1, 128, 16, 64, 4, 2, 1),
            (1, 64, 32, 3, 4, 2, 1)],
    "CBR": [(1, 3, 224, 64, 7, 2, 3), (1, 64, 56, 128, 3, 2, 1), (1, 128, 28, 256, 1, 2, 0),
            (1, 512, 7, 512, 3, 1, 1)],
    "NRM": [(1, 256, 256), (1, 512, 512), (1, 1024, 1024), (1, 4096, 1024)],
    "SFM": [(256, 256), (512, 512), (1024, 1024), (2048, 2048)],
    "DEN": [(128, 3072, 768), (128, 768, 3072)],  # BERT-base feed-forward, (m, n, k)
    "LN": [(128, 768)],
    "MXP": [(1, 64, 112, 3, 2, 1)],
    "AVP": [(1, 64, 56, 2, 2, 0)],
    "GAP": [(1, 2048, 7, 7), (1, 512, 7, 7)],
    "ADD": [(1, 64, 56, 56)],
    "MUL": [(1, 64, 56, 56)],
    "RELU": [(1, 64, 112, 112)],
    "BIAS": [(1, 64, 112, 112)],
    "BN": [(1, 64, 112, 112)],
}

# small shapes of every operator (odd sizes, so that splits do not divide): tests and quick checks
SMALL_SHAPES = {
    "C1D": (1, 6, 20, 8, 3, 2, 1),
    "C2D": (2, 5, 11, 6, 3, 1, 1),
    "C3D": (1, 3, 7, 4, 3, 2, 1),
    "GRP": (1, 8, 9, 12, 3, 2, 1, 1, 4),
    "DIL": (1, 3, 13, 4, 3, 1, 2, 2),
    "DEP": (1, 6, 10, 3, 2, 1),
    "T2D": (1, 6, 5, 4, 4, 2, 1),
    "CBR": (1, 3, 12, 5, 3, 2, 1),
    "GMM": (17, 9, 23),
    "BMM": (3, 7, 9, 5),
    "DEN": (5, 7, 9),
    "MXP": (1, 3, 11, 3, 2, 1),
    "AVP": (1, 3, 10, 2, 2, 0),
    "GAP": (2, 3, 5, 7),
    "ADD": (2, 3, 5, 7),
    "MUL": (2, 3, 5, 7),
    "RELU": (2, 3, 5, 7),
    "BIAS": (2, 3, 5, 7),
    "BN": (2, 3, 5, 7),
    "SFM": (6, 37),
    "NRM": (2, 5, 9),
    "LN": (6, 37),
}

# ResNet conv layers: (c_in, size, c_out, kernel, stride, pad), batch 1, each distinct shape once
RESNET18 = [(3, 224, 64, 7, 2, 3), (64, 56, 64, 3, 1, 1), (64, 56, 128, 3, 2, 1), (64, 56, 128, 1, 2, 0),
            (128, 28, 128, 3, 1, 1), (128, 28, 256, 3, 2, 1), (128, 28, 256, 1, 2, 0), (256, 14, 256, 3, 1, 1),
            (256, 14, 512, 3, 2, 1), (256, 14, 512, 1, 2, 0), (512, 7, 512, 3, 1, 1)]
RESNET50 = [(3, 224, 64, 7, 2, 3), (64, 56, 64, 1, 1, 0), (64, 56, 64, 3, 1, 1), (64, 56, 256, 1, 1, 0),
            (256, 56, 64, 1, 1, 0), (256, 56, 128, 1, 1, 0), (128, 56, 128, 3, 2, 1), (128, 28, 512, 1, 1, 0),
            (256, 56, 512, 1, 2, 0), (512, 28, 128, 1, 1, 0), (128, 28, 128, 3, 1, 1), (512, 28, 256, 1, 1, 0),
            (256, 28, 256, 3, 2, 1), (256, 14, 1024, 1, 1, 0), (512, 28, 1024, 1, 2, 0), (1024, 14, 256, 1, 1, 0),
            (256, 14, 256, 3, 1, 1), (1024, 14, 512, 1, 1, 0), (512, 14, 512, 3, 2, 1), (512, 7, 2048, 1, 1, 0),
            (1024, 14, 2048, 1, 2, 0), (2048, 7, 512, 1, 1, 0), (512, 7, 512, 3, 1, 1)]


def operator_codes():
    return sorted(_KINDS)


def operator_parameters(op):
    """The parameter names of suite operator `op`, e.g. ('m', 'n', 'k') for GMM."""
    import inspect
    return tuple(p.name for p in inspect.signature(_KINDS[op][0]).parameters.values())


def check_workload(w):
    """`w` itself if its operator builds with its params and has a positive FLOP count; a
    WorkloadError naming the operator, the params and the parameters it takes otherwise."""
    try:
        w.build()
        ok = w.flops > 0
        why = "" if ok else "it has no floating-point work"
    except WorkloadError:
        raise
    except Exception as e:  # noqa: BLE001 - wrong arity, sizes that make no tensor, ...
        ok, why = False, f"{type(e).__name__}: {e}"
    if not ok:
        takes = f"; {w.op} takes ({', '.join(operator_parameters(w.op))})" if w.op in _KINDS else ""
        raise WorkloadError(f"operator {w.op} with parameters {list(w.params)} is not valid ({why}){takes}")
    return w


def suite(ops=None, resnet=True):
    """The benchmark workloads: every operator's configurations, then ResNet-18/50 conv layers.

    `ops` restricts to some operator codes, e.g. suite(["C2D", "GMM"]).
    """
    out = []
    for op, configs in _SUITE.items():
        if ops is None or op in ops:
            out += [Workload(op, f"{op}-{i}", tuple(p)) for i, p in enumerate(configs)]
    if resnet and (ops is None or "C2D" in ops):
        for tag, layers in (("R18", RESNET18), ("R50", RESNET50)):
            out += [Workload("C2D", f"{tag}-{i}", (1,) + layer) for i, layer in enumerate(layers)]
    return out
