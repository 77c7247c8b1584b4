"""search.tune: the tuning loop (ask the strategy, measure, log, tell), with resume from a log.

A run ends by measuring its best few candidates again, side by side (FINAL of them), and the winner
is the fastest of that re-measurement: one lucky or unlucky timing does not pick the kernel. Where
every one of them runs SLOWED times slower than before (the whole machine slowed down for a while,
and alt.timing's canary missed it), the round is run once more.

A timing that other processes disturbed (recorded DISTURBED, see search.measure) is a trial spent in
its run, as a measurement error is in TVM; it is never a time, and its point is measured again on
resume. One taken while the machine itself ran slow is timed again once it runs at speed.
"""
import json
import logging
import sys
import time

import numpy as np
from tqdm import tqdm

from alt.build import build
from alt.errors import AltError, OptionError, WorkloadError, check_counts
from alt.ops import Workload, suite
from alt.ops.suite import check_workload, user_workload

from . import records as R
from .measure import Measurer, WorkerPool, check_measure_options, check_runs_here
from .model import preload
from .space import space_for
from .strategy import MODELS, STRATEGIES, check_strategy_options, key, make_strategy

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
        return check_workload(w)  # an unknown operator or wrong parameters fail here, not in every builder
    for w in suite():
        if w.name == name_or_workload:
            return w
    raise WorkloadError(f"no suite workload named {name_or_workload!r}; see alt.ops.suite(), or give an "
                        "operator code with its shape")


class TuningFailed(AltError, RuntimeError):
    """No candidate of a tuning run built and ran correctly."""


MEASURE_OPTIONS = ("build_timeout", "run_timeout", "repeat", "min_time", "rtol", "seed", "threads", "proc_bind",
                   "wait_policy", "attempts", "settle")
FINAL = 4  # candidates measured again at the end of a run
SLOWED = 1.25  # every final time this much above the same candidate's earlier one: the round is run again


def check_options(trials, strategy, model, batch, seed, measure_options):
    """Every option of tune checked before anything starts: an OptionError names the bad one."""
    check_counts("search.tune", trials=(trials, 1), batch=(batch, 1), seed=(seed, 0))
    if strategy not in STRATEGIES:
        raise OptionError(f"search.tune: strategy={strategy!r} is not a search strategy; use one of "
                          f"{sorted(STRATEGIES)}")
    if model not in MODELS:
        raise OptionError(f"search.tune: model={model!r} is not a cost model; use one of {list(MODELS)}")
    unknown = sorted(set(measure_options or {}) - set(MEASURE_OPTIONS))
    if unknown:
        raise OptionError(f"search.tune: measure_options {unknown} are not options of the measurer; known: "
                          f"{list(MEASURE_OPTIONS)}")
    check_measure_options(**(measure_options or {}))  # before a cluster's workers see them too


class Progress:
    """A progress bar on stderr (tqdm), one step per measured candidate: trials, elapsed time, ETA,
    best GFLOP/s and errors. After a resume, the rate and ETA count only this run's trials."""

    def __init__(self, name, total, done, quiet=False):
        self.bar = tqdm(total=total, initial=done, desc=name, unit="trial", disable=quiet, dynamic_ncols=True,
                        file=sys.stderr)

    def step(self, best, errors):
        self.bar.set_postfix_str(f"best {best:.1f} GFLOP/s, errors {errors}", refresh=False)
        self.bar.update(1)

    def say(self, text):
        if not self.bar.disable:
            self.bar.write(text, file=sys.stderr)

    def close(self):
        self.bar.close()


def _counts_as_done(rec, strategy):
    # logs written before infrastructure failures were kept apart blamed candidates for a broken
    # builder pool; those records are not outcomes, so their points are tried again. A disturbed
    # timing and a final re-measurement are not trials either.
    return (rec.get("strategy") == strategy and "BrokenProcessPool" not in rec.get("message", "")
            and rec["error"] != R.DISTURBED and rec.get("phase") != "final")


def _told(records, flops):
    """(points, scores) the strategy learns from: everything but disturbed timings."""
    told = [r for r in records if r["error"] != R.DISTURBED]
    return [r["point"] for r in told], [R.gflops(r, flops) for r in told]


def tune(workload, trials=64, strategy="alt", log=None, seed=0, batch=8, executor=None, model="gbt",
         quiet=False, measure_options=None, stats=None, args=None, target=None, final=FINAL, layout=None,
         build=True, on_record=None, scheduler=None, hand_seeds=True, transfer=None, strategy_options=None):
    """Tune `workload`: a suite name, an alt.ops.Workload, or a user operator function with `args`
    (a top-level `fn(*args)` returning (input placeholders, output tensor), tuned in the generic
    space), for `target` (an alt.Target or its string; default the target in effect). Returns
    (best record, built Kernel).

    With `log` (a path), every measurement is appended to that JSON-lines log the moment it is
    final; points already in it are not measured again and warm the cost model (resume); records
    measured for another target or on another kind of CPU are left alone (their times say nothing
    of this machine, and their points are measured here anew). The best `final`
    candidates are measured again at the end and the winner is chosen from that. A dict passed as
    `stats` receives where the time went: propose (annealing against the model), fit (training
    the model, and waiting for scikit-learn's import where the first builds did not cover it),
    build, run, seconds.
    Options are checked first (OptionError); a failure of the measuring machinery is a
    MeasureError that records nothing; Ctrl-C leaves a log that resumes.

    `layout` fixes the layout knobs of the loop-only strategy (default: the space's default
    layout); `build=False` returns (best record, None) without building the kernel; `on_record` is
    called with every new record the moment it is logged (a network tuner's progress).

    `scheduler` (a dask scheduler address such as 'tcp://host:8786', or a distributed.Client)
    measures on that cluster's workers of the target's machine instead of here (search.cluster);
    the records name the worker and CPU that measured each candidate. `hand_seeds=False` does not
    measure the target's hand schedules first (for ablations of the search itself). `transfer` (a
    log path or a list of them) trains the cost model on the other workloads measured there before
    the first proposal (search.transfer: AutoTVM's transfer learning). `strategy_options` changes
    the strategy's settings ({"joint_share": 0.25}; search.strategy.OPTIONS lists them), for ablations.
    """
    from alt.target import resolve
    check_options(trials, strategy, model, batch, seed, measure_options)
    strategy_options = check_strategy_options(strategy, strategy_options, "search.tune")
    check_counts("search.tune", final=(final, 0))
    if layout is not None and strategy != "loop-only":
        raise OptionError(f"search.tune: layout={layout!r} fixes the layout of the loop-only strategy, not of "
                          f"{strategy!r}")
    if transfer is not None and (model != "gbt" or strategy == "random"):
        raise OptionError(f"search.tune: transfer warm-starts the gradient-boosted cost model; strategy "
                          f"{strategy!r} with model {model!r} has none to warm")
    if scheduler is not None and executor is not None:
        raise OptionError("search.tune: give an executor (builds here, runs here) or a scheduler (both on a "
                          "cluster), not both")
    target = resolve(target) if scheduler is not None else check_runs_here(resolve(target))
    with target:
        return _tune(find_workload(workload, args), trials, strategy, log, seed, batch, executor, model, quiet,
                     measure_options, stats, target, final, layout, build, on_record, scheduler, hand_seeds,
                     transfer, strategy_options)


def _measurer(w, executor, target, measure_options, scheduler):
    if scheduler is None:
        return Measurer(w, executor=executor, target=target, **(measure_options or {}))
    from .cluster import ClusterMeasurer
    return ClusterMeasurer(w, scheduler, target=target, **(measure_options or {}))


def _tune(w, trials, strategy, log, seed, batch, executor, model, quiet, measure_options, stats, target, final,
          layout=None, build=True, on_record=None, scheduler=None, hand_seeds=True, transfer=None,
          strategy_options=None):
    # the cost model's library is imported while this process sets up and the first batch builds;
    # the first timing waits for it (measured here, the import shares no CPU with a timing)
    imported = preload() if model == "gbt" and strategy != "random" and scheduler is None else None
    space = space_for(w, target)
    rng = np.random.default_rng(seed)
    prior = None
    if transfer is not None:
        from .transfer import transfer_data
        prior = transfer_data(transfer, w, target)
        if not quiet:
            print(f"{w.name}: cost model warmed with {len(prior[1])} records of other workloads", file=sys.stderr)
    strat = make_strategy(strategy, space, rng, trials, model, layout=layout, hand_seeds=hand_seeds, prior=prior,
                          options=strategy_options)
    records = R.Log.for_writing(log, "search.tune")
    everywhere = records.read(w) if records else []
    here = [r for r in everywhere if R.measured_on(r, target)]
    # points of an older template (a knob it no longer has, BMM's generic knobs): their kernels replay
    # from the saved schedules (apply_best), but this space can neither learn from them nor count them
    history = [r for r in here if space.check(r["point"]) is None]
    if history:
        strat.update(*_told(history, w.flops))
    done = sum(_counts_as_done(r, strategy) for r in history)
    settings = {"settings": strategy_options} if strategy_options else {}  # recorded where any were given
    other = sum(_counts_as_done(r, strategy) and r.get("settings", {}) != (strategy_options or {}) for r in history)
    remaining = max(0, trials - done)
    best = max([R.gflops(r, w.flops) for r in history], default=0.0)
    errors = sum(r["error"] != R.OK for r in history if _counts_as_done(r, strategy))
    progress = Progress(w.name, trials, min(done, trials), quiet)
    if everywhere:
        progress.say(f"{w.name}: resumed from {len(history)} records in {log} ({done} of this strategy)" +
                     (f"; {len(everywhere) - len(here)} measured for other targets or CPUs are left alone"
                      if len(everywhere) > len(here) else "") +
                     (f"; {len(here) - len(history)} of points this version's template does not have (an older "
                      "version's) are left alone" if len(here) > len(history) else "") +
                     (f"; {other} of them were proposed with settings other than "
                      f"{strategy_options or 'the defaults'} (they count)" if other else ""))
    timings = {"propose": 0.0, "fit": 0.0, "import": 0.0}
    started = time.perf_counter()
    new = []
    try:
        with _measurer(w, executor, target, measure_options, scheduler) as m:
            if isinstance(getattr(m, "executor", None), WorkerPool):  # idle while the strategy proposes
                strat.features.pool, strat.features.workload_key = m.executor, R.workload_key(w)

            def waited():  # for the import to end: before any timing, and before returning
                t = time.perf_counter()
                if imported is not None:
                    imported()
                timings["import"] += time.perf_counter() - t
            while remaining > 0:
                t0 = time.perf_counter()
                points = strat.next_batch(min(batch, remaining))
                timings["propose"] += time.perf_counter() - t0
                if not points:  # a small space: every program it has is measured (copies are not, Strategy)
                    progress.say(f"{w.name}: no candidate left that lowers to a program not measured yet; "
                                 f"stopping after {trials - remaining} of {trials} trials")
                    break
                scores = [0.0] * len(points)

                def record(i, r):  # the moment a candidate is final: log it, then show it
                    nonlocal best, errors
                    rec = _record(w, points[i], r, strategy, m, records, **settings)
                    new.append(rec)
                    scores[i] = R.gflops(rec, w.flops) if rec["error"] != R.DISTURBED else None
                    best = max(best, scores[i] or 0.0)
                    errors += rec["error"] != R.OK
                    progress.step(best, errors)
                    if on_record is not None:
                        on_record(rec)

                m.measure(points, on_result=record, before_run=waited)
                told = [(p, sc) for p, sc in zip(points, scores) if sc is not None]
                strat.update([p for p, _ in told], [sc for _, sc in told])  # records; the model refits when next asked
                remaining -= len(points)
            waited()  # a resumed run may time its final round at once
            top = _remeasure(w, history + new, final, strategy, m, records, progress) if final else []
            new += top
            timings.update(m.timings)
            timings["fit"] = strat.fit_seconds + timings.pop("import")  # fitted within proposing, when first asked;
            # the import's wait (if the first builds ended before it) is the model's
            timings["propose"] -= strat.fit_seconds
    finally:
        progress.close()
    everything = history + new
    good = [r for r in everything if r["error"] == R.OK]
    if not good:
        raise TuningFailed(f"tuning {w.name}: none of {len(everything)} candidates built and ran correctly; "
                           "the log's messages say why")
    top = R.winner(good)
    if stats is not None:
        stats.update(timings, total=time.perf_counter() - started, measured=len(new))
    return top, kernel_of(top, w, target) if build else None


def _record(w, point, r, strategy, measurer, records, **extra):
    if "worker" in r:  # measured on a cluster: by that worker, on its CPU
        extra = dict(extra, worker=r["worker"])
    rec = R.make(w, point, r["costs"], r["error"], r["message"], strategy, target=measurer.target,
                 run=measurer.run_settings, schedule=r.get("schedule"), **extra)
    if "host" in r:
        rec["target"]["host"] = r["host"]
    if records:
        records.append(rec)
    return rec


def _remeasure(w, records_so_far, final, strategy, measurer, records, progress):
    """Measure the `final` fastest distinct candidates again, side by side; their records (phase
    "final") decide the winner."""
    good = sorted((r for r in records_so_far if r["error"] == R.OK), key=lambda r: min(r["costs"]))
    points, before = [], {}  # before: each point's fastest time so far (its first record in `good`)
    for r in good:
        k = key(r["point"])
        if k not in before:
            before[k] = min(r["costs"])
            points.append(r["point"])
        if len(points) == final:
            break
    if len(points) < 2:
        return []
    progress.say(f"{w.name}: measuring the best {len(points)} candidates again")
    out = []
    for attempt in range(2):
        got = []
        measurer.measure(points, on_result=lambda i, r: got.append(_record(w, points[i], r, strategy, measurer,
                                                                           records, phase="final")))
        out += got
        slower = [min(r["costs"]) / before[key(r["point"])] for r in got if r["error"] == R.OK]
        if attempt or len(slower) < 2 or min(slower) <= SLOWED:
            break
        # every candidate ran slower than when it was first measured: the machine was, not the kernels
        # (a slowdown that no process of ours waited through, so alt.timing could not see it)
        progress.say(f"{w.name}: the best candidates all ran {min(slower):.2f}x or more slower than before; "
                     "measuring them again")
        time.sleep(1.0)
    return out


def kernel_of(rec, workload, target=None):
    """Build the kernel of a record: its saved schedule replayed onto a fresh compute definition
    (the knob point through today's space where the record has no schedule or it no longer replays).
    A Winograd point's kernel reads transformed weights: its `pack` transforms them (Kernel.prepare)."""
    import alt
    from alt.errors import ScheduleError
    from alt.target import resolve
    target = resolve(target)
    with target:
        space = space_for(workload, target)
        k = None
        if rec.get("schedule"):
            inputs, out = space.build_point(rec["point"])
            try:
                sch = alt.Schedule.from_json(json.dumps(rec["schedule"]), [out])
                k = build(sch, inputs + [out], target)
            except (ScheduleError, AltError) as e:
                logger.warning("%s: the saved schedule does not replay (%s); rebuilding from its knob point",
                               workload.name, e)
        if k is None:
            sch, args = space.apply(rec["point"])
            inputs = args[:-1]
            k = build(sch, args, target)
        k.prepare = {t.name: how for t, how in zip(inputs, space.prepare(rec["point"]) or []) if how}
        return k


def apply_best(log, workload, args=None, target=None):
    """The Kernel of the best record of `workload` (as for tune) in the log at `log` (None if it
    has none; an OptionError if there is no such log),
    preferring records measured on `target`'s machine (a warning when the best is from elsewhere).
    For a network (an alt.graph.Graph): the tuned Network, as alt.graph.compile_network(graph, log=log)."""
    from alt.graph import Graph, compile_network
    if isinstance(workload, Graph):
        return compile_network(workload, target=target, log=log)
    w = find_workload(workload, args)
    log = R.Log(log)
    if not log.exists():
        raise OptionError(f"apply_best: no tuning log {log.path!r}; write one with search.tune or `alt tune`")
    rec = log.best(w, target)
    if rec is None:
        return None
    return kernel_of(rec, w, target)
