"""search.tune: the tuning loop (ask the strategy, measure, log, tell), with resume from a log."""
import logging
import sys
import time

import numpy as np

from alt.build import build
from alt.errors import WorkloadError
from alt.ops import Workload, suite
from alt.ops.suite import user_workload

from . import records as R
from .measure import Measurer
from .space import space_for
from .strategy import make_strategy

logger = logging.getLogger("alt.search")


def find_workload(name_or_workload, shape=None):
    """A suite workload by name ('C2D-1', 'R50-3'), an operator code with its `shape` parameters
    (('C2D', (1, 64, 56, 64, 3, 1, 1)): batch, channels, size, out channels, kernel, stride, pad),
    a user operator with its parameters (a top-level function `fn(*shape)` returning
    (input placeholders, output tensor), or its name 'package.module:function'), or a Workload."""
    if isinstance(name_or_workload, Workload):
        return name_or_workload
    if callable(name_or_workload):
        return user_workload(name_or_workload, tuple(shape or ()))
    if shape is not None:
        w = Workload(name_or_workload, f"{name_or_workload}-{'x'.join(map(str, shape))}", tuple(shape))
        w.build()  # an unknown operator or wrong parameters fail here, not in every builder process
        return w
    for w in suite():
        if w.name == name_or_workload:
            return w
    raise WorkloadError(f"no suite workload named {name_or_workload!r}; see alt.ops.suite(), or give an "
                        "operator code with its shape")


class Progress:
    """One status line on stderr: trials, best GFLOP/s, errors."""

    def __init__(self, total, quiet=False):
        self.total, self.quiet, self.t0 = total, quiet, time.perf_counter()

    def show(self, done, best, errors, final=False):
        if self.quiet:
            return
        rate = done / max(1e-9, time.perf_counter() - self.t0) * 60
        sys.stderr.write(f"\r[{done}/{self.total}] best {best:7.1f} GFLOP/s  errors {errors}  "
                         f"({rate:.0f} trials/min)" + ("\n" if final else ""))
        sys.stderr.flush()


def tune(workload, trials=64, strategy="alt", log=None, seed=0, batch=8, executor=None, model="gbt",
         quiet=False, measure_options=None, stats=None, args=None):
    """Tune `workload`: a suite name, an alt.ops.Workload, or a user operator function with `args`
    (a top-level `fn(*args)` returning (input placeholders, output tensor), tuned in the generic
    space). Returns (best record, built Kernel).

    With `log` (a path), every measurement is appended to that JSON-lines log as it finishes; points
    already in it are not measured again and warm the cost model (resume). A dict passed as
    `stats` receives where the time went: propose (model + annealing), build, run, seconds.
    """
    w = find_workload(workload, args)
    space = space_for(w)
    rng = np.random.default_rng(seed)
    strat = make_strategy(strategy, space, rng, trials, model)
    records = R.Log(log) if log else None
    history = records.read(w) if records else []
    if history:
        strat.update([r["point"] for r in history], [R.gflops(r, w.flops) for r in history])
        logger.info("resumed from %d records of %s in %s", len(history), w.name, log)
    done = [r for r in history if r.get("strategy") == strategy] if history else []
    remaining = max(0, trials - len(done))
    best = max([R.gflops(r, w.flops) for r in history], default=0.0)
    errors = 0
    progress = Progress(trials, quiet)
    timings = {"propose": 0.0}
    started = time.perf_counter()
    new = []
    with Measurer(w, executor=executor, **(measure_options or {})) as m:
        while remaining > 0:
            t0 = time.perf_counter()
            points = strat.next_batch(min(batch, remaining))
            timings["propose"] += time.perf_counter() - t0
            if not points:
                break
            results = m.measure(points)
            scores = []
            for p, r in zip(points, results):
                rec = R.make(w, p, r["costs"], r["error"], r["message"], strategy)
                if records:
                    records.append(rec)
                new.append(rec)
                g = R.gflops(rec, w.flops)
                scores.append(g)
                best = max(best, g)
                errors += rec["error"] != R.OK
            strat.update(points, scores)
            remaining -= len(points)
            progress.show(trials - remaining, best, errors)
        timings.update(m.timings)
    progress.show(trials - remaining, best, errors, final=True)
    everything = history + new
    good = [r for r in everything if r["error"] == R.OK]
    if not good:
        raise RuntimeError(f"tuning {w.name}: none of {len(everything)} candidates built and ran correctly")
    top = min(good, key=lambda r: min(r["costs"]))
    sch, args = space.apply(top["point"])
    if stats is not None:
        stats.update(timings, total=time.perf_counter() - started, measured=len(new))
    return top, build(sch, args)


def apply_best(log, workload, args=None):
    """The Kernel of the best record of `workload` (as for tune) in the log at `log` (None if none)."""
    w = find_workload(workload, args)
    rec = R.Log(log).best(w)
    if rec is None:
        return None
    sch, args = space_for(w).apply(rec["point"])
    return build(sch, args)
