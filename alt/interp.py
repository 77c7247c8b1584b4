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

CHUNK = 1 << 24  # elements of one evaluation grid; larger reductions loop over their first axis


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
    op = t.op
    n = len(op.axis)
    raxes = op.reduce_axis
    nd = n + len(raxes)
    env = {}
    for d, v in enumerate(list(op.axis) + list(raxes)):
        shape = [1] * nd
        shape[d] = v.extent
        env[v] = np.arange(v.extent, dtype=np.int64).reshape(shape)
    out_dtype = dtypes.to_numpy(t.dtype)
    if not raxes:
        val = _eval(op.body, env, values, True)
        return np.ascontiguousarray(np.broadcast_to(np.asarray(val, out_dtype), t.shape))
    body = op.body
    red = {"sum": np.sum, "max": np.max, "min": np.min}[body.combiner]
    comb = {"sum": np.add, "max": np.maximum, "min": np.minimum}[body.combiner]
    total = int(np.prod(t.shape)) * int(np.prod([a.extent for a in raxes]))
    raxis_dims = tuple(range(n, nd))
    if total <= CHUNK or raxes[0].extent == 1:
        val = np.broadcast_to(_eval(body.source, env, values, True), t.shape + tuple(a.extent for a in raxes))
        return np.ascontiguousarray(red(val, axis=raxis_dims).astype(out_dtype))
    acc = np.full(t.shape, E.identity(body.combiner, t.dtype), dtype=out_dtype)
    first = raxes[0]
    for r in range(first.extent):
        env[first] = np.full([1] * nd, r, dtype=np.int64)
        val = np.broadcast_to(_eval(body.source, env, values, True), t.shape + (1,) + tuple(a.extent for a in raxes[1:]))
        acc = comb(acc, red(val, axis=raxis_dims).astype(out_dtype))
    return acc


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
