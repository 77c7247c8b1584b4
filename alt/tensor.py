"""Tensors and the operations that define them: placeholders and compute definitions."""
import inspect
import numbers

from . import dtypes
from .errors import ComputeError
from .expr import Expr, IterVar, Read, Reduce, as_expr, cast, walk


class Tensor:
    """An n-d array produced by an operation (a placeholder or a compute definition)."""

    def __init__(self, shape, dtype, name, op):
        self.shape, self.dtype, self.name, self.op = tuple(shape), dtype, name, op

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def axis(self):
        """The spatial axes of the compute that defines this tensor (TVM's `C.op.axis`)."""
        return self.op.axis

    def __getitem__(self, indices):
        if not isinstance(indices, tuple):
            indices = (indices,)
        if len(indices) != self.ndim:
            raise ComputeError(f"tensor {self.name!r} has {self.ndim} dimensions {list(self.shape)} "
                               f"but is indexed with {len(indices)} indices")
        exprs = []
        for d, i in enumerate(indices):
            i = as_expr(i)
            if not dtypes.is_int(i.dtype):
                raise ComputeError(f"index {d} of tensor {self.name!r} is {i} of {i.dtype}; indices must be integers")
            exprs.append(i if i.dtype == "int32" else cast("int32", i))
        return Read(self, exprs)

    def __repr__(self):
        return f"Tensor({self.name!r}, shape={list(self.shape)}, dtype={self.dtype})"


class PlaceholderOp:
    def __init__(self, name):
        self.name = name
        self.input_tensors = ()
        self.axis = ()
        self.reduce_axis = ()


class ComputeOp:
    """out[axis] = body, where body may be a single top-level reduction over reduce_axis."""

    def __init__(self, name, axis, body, tag=""):
        self.name, self.axis, self.body, self.tag = name, tuple(axis), body, tag
        self.reduce_axis = body.axes if isinstance(body, Reduce) else ()
        seen, inputs = set(), []
        for e in walk(body):
            if isinstance(e, Read) and id(e.tensor) not in seen:
                seen.add(id(e.tensor))
                inputs.append(e.tensor)
        self.input_tensors = tuple(inputs)


def _check_shape(shape, what):
    if isinstance(shape, numbers.Integral):
        shape = (shape,)
    shape = tuple(shape)
    if not shape or not all(isinstance(d, numbers.Integral) and not isinstance(d, bool) and d >= 1 for d in shape):
        raise ComputeError(f"{what}: shape {shape!r} must be a non-empty tuple of positive integers")
    return tuple(int(d) for d in shape)


def _check_name(name, what):
    if not isinstance(name, str) or not name:
        raise ComputeError(f"{what}: name {name!r} must be a non-empty string")
    return name


def placeholder(shape, name="placeholder", dtype="float32"):
    """An input tensor of the given shape and dtype."""
    _check_name(name, "alt.placeholder")
    shape = _check_shape(shape, f"placeholder {name!r}")
    dtype = dtypes.check_dtype(dtype, f"placeholder {name!r}")
    return Tensor(shape, dtype, name, PlaceholderOp(name))


def reduce_axis(extent, name="k"):
    """A reduction axis over range(extent), for alt.sum / alt.max / alt.min."""
    if isinstance(extent, (tuple, list)):  # TVM style (0, n)
        if len(extent) != 2 or extent[0] != 0:
            raise ComputeError(f"reduce_axis {name!r}: range {extent!r} must start at 0, e.g. (0, n) or n")
        extent = extent[1]
    if not isinstance(extent, numbers.Integral) or extent < 1:
        raise ComputeError(f"reduce_axis {name!r}: extent {extent!r} must be a positive integer")
    return IterVar(_check_name(name, "alt.reduce_axis"), int(extent), "reduce")


def _arg_names(fcompute, ndim, name):
    try:
        params = list(inspect.signature(fcompute).parameters.values())
    except (TypeError, ValueError):
        params = []
    if params and params[0].kind == inspect.Parameter.VAR_POSITIONAL:
        return [f"i{d}" for d in range(ndim)]
    if len(params) != ndim:
        raise ComputeError(f"compute {name!r}: the function takes {len(params)} index arguments "
                           f"but the shape has {ndim} dimensions")
    return [p.name for p in params]


def compute(shape, fcompute, name="compute", dtype=None, tag="", axis_names=None):
    """Define a tensor elementwise: out[i, j, ...] = fcompute(i, j, ...).

    The body may be a single top-level reduction (alt.sum / alt.max / alt.min over reduce axes).
    `tag` names the op's kind for default schedules (e.g. "pad", "injective").
    Axes are named after fcompute's parameters, or `axis_names` when it takes *args.
    """
    _check_name(name, "alt.compute")
    shape = _check_shape(shape, f"compute {name!r}")
    if axis_names is not None:
        if len(axis_names) != len(shape):
            raise ComputeError(f"compute {name!r}: {len(axis_names)} axis names for {len(shape)} dimensions")
        names = list(axis_names)
    else:
        names = _arg_names(fcompute, len(shape), name)
    axis = [IterVar(n, e, "spatial") for n, e in zip(names, shape)]
    body = as_expr(fcompute(*axis))
    if dtype is not None:
        dtype = dtypes.check_dtype(dtype, f"compute {name!r}")
        if body.dtype != dtype:
            if isinstance(body, Reduce):
                body = Reduce(body.combiner, cast(dtype, body.source), body.axes)
            else:
                body = cast(dtype, body)
    if body.dtype == "bool":
        raise ComputeError(f"compute {name!r}: the body {body} is a condition; wrap it in alt.select")
    _check_body(name, axis, body)
    return Tensor(shape, body.dtype, name, ComputeOp(name, axis, body, tag))


def _check_body(name, axis, body):
    raxes = body.axes if isinstance(body, Reduce) else ()
    inner = body.source if isinstance(body, Reduce) else body
    allowed = {id(a) for a in axis} | {id(a) for a in raxes}
    names = [a.name for a in axis] + [a.name for a in raxes]
    if len(set(names)) != len(names):
        raise ComputeError(f"compute {name!r}: axis names {names} repeat; give the reduce axes other names")
    for e in walk(inner):
        if isinstance(e, Reduce):
            raise ComputeError(f"compute {name!r}: a reduction must be the whole body, not part of "
                               f"an expression; compute it as its own tensor first")
        if isinstance(e, IterVar) and id(e) not in allowed:
            kind = "reduce axis" if e.kind == "reduce" else "axis"
            raise ComputeError(f"compute {name!r}: {kind} {e.name!r} does not belong to this compute "
                               f"(its axes are {names}); pass reduce axes to alt.sum/max/min")
        if isinstance(e, Read) and isinstance(e.tensor, Expr):
            raise ComputeError(f"compute {name!r}: cannot index an expression")
