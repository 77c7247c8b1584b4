"""The reference interpreter: evaluates compute definitions directly with numpy.

It ignores schedules entirely and is the oracle every generated kernel is checked against.
Reads are bounds-checked wherever their value is used (alt.select guards the other side).
"""
import numpy as np

from . import dtypes
from . import expr as E
from .errors import ArgumentError, ComputeError
from .schedule import topo_order
from .tensor import PlaceholderOp, Tensor

CHUNK = 1 << 24  # elements of one evaluation grid (64 MiB of float32); larger grids go in blocks


def evaluate(outputs, inputs):
    """Evaluate tensor(s) `outputs` given {placeholder tensor or name: array}. Returns array(s)."""
    single = isinstance(outputs, Tensor)
    outs = [outputs] if single else list(outputs)
    values = {}
    for t in topo_order(outs):
        if isinstance(t.op, PlaceholderOp):
            values[id(t)] = _input(t, inputs)
        else:
            values[id(t)] = _compute(t, values)
    res = [values[id(t)] for t in outs]
    return res[0] if single else res


def _input(t, inputs):
    a = inputs.get(t, inputs.get(t.name)) if isinstance(inputs, dict) else None
    if a is None:
        raise ArgumentError(f"evaluate: no value given for placeholder {t.name!r}")
    a = np.asarray(a)
    if a.shape != t.shape or a.dtype != dtypes.to_numpy(t.dtype):
        raise ArgumentError(f"evaluate: placeholder {t.name!r} expects {t.dtype}{list(t.shape)}, "
                            f"got {a.dtype}{list(a.shape)}")
    return a


def _compute(t, values):
    """One tensor, its iteration space (output axes, then reduction axes) evaluated as numpy grids
    of at most CHUNK elements: a large reduction (a 3-d convolution's grid is ~10^9 elements) is
    cut into blocks, partial results combined, so memory stays bounded whatever the operator."""
    op = t.op
    n, raxes = len(op.axis), op.reduce_axis
    axes = list(op.axis) + list(raxes)
    out_dtype = dtypes.to_numpy(t.dtype)
    blocks = grid_blocks([v.extent for v in axes], CHUNK)
    if not raxes:
        if len(blocks) == 1:
            return np.ascontiguousarray(np.asarray(_grid(op.body, axes, None, values), out_dtype))
        out = np.empty(t.shape, out_dtype)
        for block in blocks:
            out[tuple(slice(a, b) for a, b in block)] = _grid(op.body, axes, block, values)
        return out
    body = op.body
    red = {"sum": np.sum, "max": np.max, "min": np.min}[body.combiner]
    comb = {"sum": np.add, "max": np.maximum, "min": np.minimum}[body.combiner]
    if len(blocks) == 1:
        return np.ascontiguousarray(red(_grid(body.source, axes, None, values), axis=tuple(range(n, len(axes))))
                                    .astype(out_dtype))
    acc = np.full(t.shape, E.identity(body.combiner, t.dtype), dtype=out_dtype)
    for block in blocks:
        part = red(_grid(body.source, axes, block, values), axis=tuple(range(n, len(axes)))).astype(out_dtype)
        where = tuple(slice(a, b) for a, b in block[:n])
        acc[where] = comb(acc[where], part)
    return acc


def _grid(e, axes, block, values):
    """`e` over the grid of `axes` (each over its (start, stop) in `block`, default all of it),
    broadcast to the grid's full shape."""
    block = block or [(0, v.extent) for v in axes]
    env = {}
    for d, (v, (a, b)) in enumerate(zip(axes, block)):
        shape = [1] * len(axes)
        shape[d] = b - a
        env[v] = np.arange(a, b, dtype=np.int64).reshape(shape)
    return np.broadcast_to(_eval(e, env, values, True), tuple(b - a for a, b in block))


def grid_blocks(extents, limit):
    """Blocks [(start, stop) per axis] that tile the grid of `extents`, each of at most `limit`
    elements where it can be (a single point is one block): the largest axis halved in turn."""
    out = []

    def split(ranges):
        sizes = [b - a for a, b in ranges]
        if int(np.prod(sizes)) <= limit or max(sizes) == 1:
            out.append(ranges)
            return
        d = sizes.index(max(sizes))
        a, b = ranges[d]
        for half in ((a, (a + b) // 2), ((a + b) // 2, b)):
            split(ranges[:d] + [half] + ranges[d + 1:])

    split([(0, e) for e in extents])
    return out


_BIN = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.true_divide, "//": np.floor_divide,
        "%": np.mod, "min": np.minimum, "max": np.maximum}
_CMP = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal, "==": np.equal,
        "!=": np.not_equal}
_FUNC = {"exp": np.exp, "log": np.log, "tanh": np.tanh, "sqrt": np.sqrt,
         "sigmoid": lambda x: 1 / (1 + np.exp(-x))}


def _eval(e, env, values, mask):
    dt = dtypes.to_numpy(e.dtype)
    if isinstance(e, E.Const):
        return np.asarray(e.value, dt)
    if isinstance(e, E.Var):
        return env[e]
    if isinstance(e, E.Binary):
        a, b = _eval(e.a, env, values, mask), _eval(e.b, env, values, mask)
        with np.errstate(all="ignore"):
            return np.asarray(_BIN[e.op](a, b)).astype(dt, copy=False)
    if isinstance(e, E.Compare):
        return _CMP[e.op](_eval(e.a, env, values, mask), _eval(e.b, env, values, mask))
    if isinstance(e, E.Logical):
        args = [_eval(a, env, values, mask) for a in e.args]
        if e.op == "not":
            return np.logical_not(args[0])
        f = np.logical_and if e.op == "and" else np.logical_or
        out = args[0]
        for a in args[1:]:
            out = f(out, a)
        return out
    if isinstance(e, E.Call):
        with np.errstate(all="ignore"):
            return np.asarray(_FUNC[e.func](_eval(e.args[0], env, values, mask))).astype(dt, copy=False)
    if isinstance(e, E.Select):
        c = _eval(e.cond, env, values, mask)
        t = _eval(e.t, env, values, np.logical_and(mask, c))
        f = _eval(e.f, env, values, np.logical_and(mask, np.logical_not(c)))
        return np.where(c, t, f).astype(dt, copy=False)
    if isinstance(e, E.Cast):
        with np.errstate(all="ignore"):
            return np.asarray(_eval(e.value, env, values, mask)).astype(dt)
    if isinstance(e, E.Read):
        arr = values[id(e.tensor)]
        idx = [np.asarray(_eval(i, env, values, mask), np.int64) for i in e.indices]
        idx = np.broadcast_arrays(*idx)
        bad = np.zeros(idx[0].shape, bool)
        for i, n in zip(idx, arr.shape):
            bad |= (i < 0) | (i >= n)
        # the arm's mask may vary along axes the indices do not (a select over positions whose arms
        # read along other axes): broadcast both ways, not the mask into the indices' shape
        bad = np.logical_and(bad, mask)
        if bad.any():
            full = np.broadcast_arrays(bad, *idx)
            where = tuple(int(i[full[0]].flat[0]) for i in full[1:])
            raise ComputeError(f"tensor {e.tensor.name!r} of shape {list(arr.shape)} is read out of bounds at "
                               f"{list(where)}; guard the read with alt.select")
        idx = [np.clip(i, 0, n - 1) for i, n in zip(idx, arr.shape)]
        return arr[tuple(idx)]
    raise ComputeError(f"cannot evaluate {type(e).__name__} {e}")
