"""TVM MetaSchedule as a baseline: the same compute definition, tuned with the same trial budget.

`to_te` translates an alt compute definition into TVM's tensor expressions node by node, so both
tuners start from exactly the same computation; `tune` runs MetaSchedule on it, checks the tuned
function against alt's interpreter and times it with the experiments' timer. Needs
`pip install -e ".[baselines]"` (apache-tvm with apache-tvm-ffi 0.1.14.post1: newer ones crash in
save_json); `available()` says whether it is installed. The experiments call `tune` through
`tune_isolated`, in a process of its own (experiments.isolated), never beside PyTorch.
`tvm_target` names the CPU explicitly from alt's target (gcc's name of the host CPU, e.g.
cooperlake or znver3, and its cores), as `-mcpu=native` silently falls back to a generic one.
"""
import contextlib
import functools
import importlib.util
import os
import sys
import tempfile
import time

import numpy as np

from alt import expr as E
from alt.schedule import topo_order
from alt.tensor import PlaceholderOp


def tvm_target(target=None):
    """TVM's target dict for an alt target (default: the current one): the CPU's name, and the
    vector ISA alt compiles for as LLVM attributes, so that a CPU newer than gcc's name for it
    (gcc 12 calls a Zen 4 with AVX-512 znver3) is not tuned for a narrower vector width."""
    from alt.target import ISAS, resolve
    t = resolve(target)
    mattr = [f"+{f}" for f in ISAS[t.isa][3] if f in ("avx2", "fma", "avx512f", "avx512bw", "avx512dq", "avx512vl")]
    return {"kind": "llvm", "mcpu": t.mcpu, "num-cores": t.cores, **({"mattr": mattr} if mattr else {})}


# seconds a MetaSchedule candidate may take to build: its default (30 s) is less than LLVM needs
# for one unrolled conv2d on 2 cores (about 40 s seen on an AMD EPYC), so every candidate would
# time out and MetaSchedule would measure nothing
BUILD_TIMEOUT = 600.0


def patient_builder():
    """MetaSchedule's LocalBuilder with BUILD_TIMEOUT. Also makes Relax's tuning pass use one: the
    pass calls the global tvm.s_tir.meta_schedule.tune_relax with positional arguments only (so
    with the default builder), which is registered again here to pass this builder."""
    import tvm
    from tvm.s_tir import meta_schedule as ms
    from tvm.s_tir.meta_schedule.relax_integration import tune_relax

    def patient_tune_relax(mod, params, target, work_dir, max_trials_global, max_trials_per_task=None,
                           op_names=None):  # as TVM's _tune_relax, with the builder
        per_task = None if max_trials_per_task is None else int(max_trials_per_task)  # IntImm from C++
        tune_relax(mod, params, target, work_dir, int(max_trials_global), max_trials_per_task=per_task,
                   op_names=op_names, builder=ms.builder.LocalBuilder(timeout_sec=BUILD_TIMEOUT))
        return mod
    tvm.register_global_func("tvm.s_tir.meta_schedule.tune_relax", patient_tune_relax, override=True)
    return ms.builder.LocalBuilder(timeout_sec=BUILD_TIMEOUT)


def importable():
    """Does TVM with MetaSchedule import in this process?"""
    try:
        import tvm  # noqa: F401
        from tvm.s_tir import meta_schedule  # noqa: F401
    except Exception:  # noqa: BLE001 - any import failure means "not installed here"
        return False
    return True


@functools.cache
def available():
    """Is TVM with MetaSchedule installed? Asked in a process of its own (experiments.isolated), so
    that TVM is never loaded beside PyTorch in the caller's."""
    if importlib.util.find_spec("tvm") is None:
        return False
    from experiments.isolated import ChildDied, call
    try:
        return call(__name__, "importable")
    except ChildDied:
        return False


def to_te(inputs, out):
    """(te placeholders in the order of `inputs`, te output) of an alt compute definition."""
    from tvm import te, tirx
    made = {}
    for t in topo_order([out]):
        if isinstance(t.op, PlaceholderOp):
            made[id(t)] = te.placeholder(t.shape, dtype=t.dtype, name=t.name)
            continue
        made[id(t)] = te.compute(t.shape, _body(t.op, made, te, tirx), name=t.name)
    missing = [t.name for t in inputs if id(t) not in made]
    if missing:
        raise ValueError(f"inputs {missing} are not read by {out.name}")
    return [made[id(t)] for t in inputs], made[id(out)]


def _body(op, made, te, tirx):
    def body(*idx):
        env = {id(a): i for a, i in zip(op.axis, idx)}
        if not op.reduce_axis:
            return _expr(op.body, env, made, tirx)
        raxes = [te.reduce_axis((0, r.extent), name=r.name) for r in op.reduce_axis]
        env.update({id(r): v for r, v in zip(op.reduce_axis, raxes)})
        red = {"sum": te.sum, "max": te.max, "min": te.min}[op.body.combiner]
        return red(_expr(op.body.source, env, made, tirx), axis=raxes)
    return body


def _expr(e, env, made, tirx):
    def go(x):
        return _expr(x, env, made, tirx)
    if isinstance(e, E.Const):
        return tirx.const(e.value, e.dtype)
    if isinstance(e, E.Var):
        return env[id(e)]
    if isinstance(e, E.Read):
        return made[id(e.tensor)][tuple(go(i) for i in e.indices)]
    if isinstance(e, E.Binary):
        a, b = go(e.a), go(e.b)
        ops = {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b, "/": lambda: a / b,
               "//": lambda: tirx.floordiv(a, b), "%": lambda: tirx.floormod(a, b),
               "max": lambda: tirx.max(a, b), "min": lambda: tirx.min(a, b)}
        return ops[e.op]()
    if isinstance(e, E.Compare):
        a, b = go(e.a), go(e.b)
        return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b,
                "==": tirx.EQ(a, b), "!=": tirx.NE(a, b)}[e.op]
    if isinstance(e, E.Logical):
        args = [go(x) for x in e.args]
        if e.op == "not":
            return tirx.Not(args[0])
        combine = tirx.all if e.op == "and" else tirx.any
        return combine(*args)
    if isinstance(e, E.Select):
        return tirx.if_then_else(go(e.cond), go(e.t), go(e.f))
    if isinstance(e, E.Cast):
        return go(e.value).astype(e.dtype)
    if isinstance(e, E.Call):
        return getattr(tirx, e.func)(go(e.args[0]))
    raise TypeError(f"no TVM translation for {type(e).__name__} {e}")


@contextlib.contextmanager
def _output_to(path):
    """Send this process's stdout and stderr (MetaSchedule's C++ and Python logs) to a file."""
    sys.stdout.flush()
    sys.stderr.flush()
    with open(path, "a") as f:
        saved = [os.dup(1), os.dup(2)]
        try:
            os.dup2(f.fileno(), 1)
            os.dup2(f.fileno(), 2)
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def tune(workload, trials, feed, want, timer, rtol=1e-3, log_path=os.devnull):
    """MetaSchedule `trials` trials on `workload`; returns {seconds, tune_s} or {error}.

    `feed` is the list of input arrays (logical layouts) and `want` the interpreter's output: the
    tuned function must match it before its time is reported. `timer(fn)` gives a median time.
    MetaSchedule's own logs go to `log_path`.
    """
    import tvm
    from tvm.s_tir import meta_schedule as ms
    inputs, out = workload.build()
    args_te, out_te = to_te(inputs, out)
    mod = tvm.IRModule({"main": tvm.te.create_prim_func(args_te + [out_te])})
    target = tvm.target.Target(tvm_target())
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="alt-ms-") as work, _output_to(log_path):
        db = ms.tune_tir(mod, target, work, max_trials_global=trials, num_trials_per_iter=min(64, trials),
                         builder=patient_builder())
        sch = ms.tir_integration.compile_tir(db, mod, target)
    tune_s = time.perf_counter() - t0
    if sch is None:
        return {"error": "MetaSchedule found no valid schedule", "tune_s": tune_s}
    fn = tvm.compile(sch.mod, target=target)["main"]
    dev = tvm.cpu()
    bufs = [tvm.runtime.tensor(a, dev) for a in feed] + [tvm.runtime.empty(want.shape, want.dtype, dev)]
    fn(*bufs)
    got = bufs[-1].numpy()
    err = float(np.max(np.abs(got - want)) / max(1e-30, float(np.max(np.abs(want)))))
    if not err <= rtol:
        return {"error": f"wrong answer: relative error {err:.2e}", "tune_s": tune_s}
    return {"seconds": timer(lambda: fn(*bufs)), "tune_s": tune_s}


def tune_isolated(workload, trials, feed, want, timer, rtol=1e-3, log_path=os.devnull):
    """`tune` in a process of its own; a crash there is returned as {"error": ...}."""
    from experiments.isolated import ChildDied, call
    t0 = time.perf_counter()
    try:
        return call(__name__, "tune", workload, trials, feed, want, timer, rtol, log_path)
    except ChildDied as e:
        lines = str(e).splitlines()  # how it died, or where it raised and the exception's last line
        return {"error": lines[0] + (f" {lines[-1]}" if len(lines) > 1 else ""), "tune_s": time.perf_counter() - t0}
