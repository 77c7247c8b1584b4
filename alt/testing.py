"""Check any scheduled kernel against the reference interpreter (loopy's auto_test_vs_ref)."""
import numpy as np

from . import dtypes
from .build import build
from .interp import evaluate
from .tensor import PlaceholderOp


def random_inputs(tensors, seed=0):
    """Seeded random arrays for the placeholders among `tensors`: floats in [-1, 1), small ints."""
    rng = np.random.default_rng(seed)
    out = {}
    for t in tensors:
        if not isinstance(t.op, PlaceholderOp):
            continue
        dt = dtypes.to_numpy(t.dtype)
        out[t] = (rng.uniform(-1, 1, t.shape).astype(dt) if dtypes.is_float(t.dtype)
                  else rng.integers(-8, 8, t.shape).astype(dt))
    return out


def check_schedule(sch, args, seed=0, rtol=1e-4, atol=1e-5, kernel=None):
    """Build `sch`, run it on random inputs and compare every computed argument with the
    interpreter. Returns the kernel; raises AssertionError naming the tensor that differs."""
    f = kernel or build(sch, args)
    inputs = random_inputs(args, seed)
    arrays = []
    for t in args:
        lay = sch.layout_of(t)
        arrays.append(lay.to_physical(inputs[t]) if t in inputs else
                      np.full(lay.shape, np.nan if dtypes.is_float(t.dtype) else -1, dtypes.to_numpy(t.dtype)))
    f(*arrays)
    outs = [t for t in args if t not in inputs]
    want = evaluate(outs, inputs)
    for t, w in zip(outs, want):
        got = sch.layout_of(t).to_logical(arrays[args.index(t)])
        if not np.allclose(got, w, rtol=rtol, atol=atol):
            bad = np.argwhere(~np.isclose(got, w, rtol=rtol, atol=atol))
            i = tuple(bad[0])
            raise AssertionError(f"tensor {t.name!r} differs from the interpreter at {len(bad)} of {w.size} "
                                 f"points, first at {list(i)}: got {got[i]!r}, expected {w[i]!r}")
    return f
