"""Measurement: build candidates in parallel, run each in an isolated worker process, check its
output against the reference, and time it. A candidate that fails to build, crashes, hangs or
answers wrong is recorded with an error code and message, and tuning goes on.

Builds go to any concurrent.futures.Executor (worker processes of our own by default, see
search.worker; a Dask client's `get_executor()` spreads them over machines). Runs go one at a time
to a worker process of their own, restarted when a candidate kills it or exceeds the run timeout.

Runs are explicit about threads and OpenMP (OMP_NUM_THREADS, OMP_PROC_BIND, OMP_WAIT_POLICY set in
the run worker and written into every record). A timing that other processes distorted (the run
worker's threads waited for a CPU, or the repeats spread too far; see alt.timing) is run again
after a pause, and recorded as DISTURBED, never as a time, if it stays distorted. One none of whose
repeats ran while the machine itself ran at its best speed (alt.timing's canary; a score is the
fastest repeat) is run again once it runs at speed; if it never does, the fastest attempt is kept
and its record's message says how slow the machine was.
"""
import functools
import numbers
import os
import queue
import tempfile
import threading
import time
from concurrent.futures import Executor, Future, ThreadPoolExecutor, as_completed
from concurrent.futures import TimeoutError as FutureTimeout

import numpy as np

from alt.errors import check_counts
from alt.timing import MAX_SLOW

from . import records as R
from .worker import MeasureError, TaskError, Worker, WorkerCrash, WorkerTimeout

SLOW_STREAK = 3  # candidates in a row the machine stayed slow through: it is slow for minutes (Measurer.run)


def build_task(workload_key, point, target=None):
    """In a builder process: lower, render and compile one candidate for `target` (a Target's dict;
    default the current target). Returns a dict."""
    import json
    from alt.build import build
    from alt.target import current, target_from_dict
    from .space import Invalid, space_for
    t0 = time.perf_counter()
    try:
        tgt = target_from_dict(target) if target is not None else current()
        w = R.workload_of(workload_key)
        with tgt:
            space = space_for(w, tgt)
            sch, args = space.apply(point)
            k = build(sch, args, tgt)
    except Invalid as e:
        return {"error": R.INVALID, "message": str(e)}
    except Exception as e:  # noqa: BLE001 - any failure of a candidate is data, not a tuner crash
        return {"error": R.BUILD_ERROR, "message": f"{type(e).__name__}: {e}"}
    out = {"error": R.OK, "schedule": json.loads(sch.to_json()), "prepare": space.prepare(point),
           "layouts": [[list(k.layouts[t.name].logical_shape), k.layouts[t.name].to_list()] for t in args],
           "build_s": time.perf_counter() - t0}
    if tgt.kind == "cuda":
        if k.cubin is None:
            return {"error": R.BUILD_ERROR, "message": "nvcc was not found: no cubin to run"}
        return dict(out, path=str(k.cubin), launches=[[l.fname, list(l.grid), list(l.block)] for l in k.launches],
                    temps=[[b.name, list(b.shape), b.dtype] for b in k.lowered.temps],
                    args=[[b.name, list(b.shape), b.dtype, w] for b, w in zip(k.lowered.args, k.writes)])
    return dict(out, path=k.program.path, fname=k.program.fname,
                args=[[b.name, list(b.shape), b.dtype, w] for b, w in zip(k.program.buffers, k.program.writes)],
                temps=[[b.name, list(b.shape), b.dtype] for b in k.program.temps])


def run_task(task):
    """In the run worker: load, pack inputs, call, check against the expected outputs, time."""
    from alt import buffers
    from alt.layout import Layout
    from codegen.program import CProgram
    from alt.stmt import Buffer
    bufs = [Buffer(n, shape, dt, "arg") for n, shape, dt, _ in task["args"]]
    if "launches" in task:  # a CUDA kernel: its launches through pycuda, timed with CUDA events
        from codegen.cuda_program import CUDAProgram
        from codegen.grid import Launch
        prog = CUDAProgram(task["path"], [Launch(f, tuple(g), tuple(b)) for f, g, b in task["launches"]], bufs,
                           [Buffer(n, shape, dt, "heap") for n, shape, dt in task["temps"]],
                           [w for *_, w in task["args"]])
    else:
        prog = CProgram(task["path"], task["fname"], bufs, [w for *_, w in task["args"]],
                        [Buffer(n, shape, dt, "heap") for n, shape, dt in task.get("temps", [])])
    from alt.ops.winograd import prepare_input
    arrays, outs = [], []
    prepare = task.get("prepare") or [None] * len(task["args"])
    for (name, shape, dt, writes), (lshape, steps), src, how in zip(task["args"], task["layouts"], task["inputs"],
                                                                    prepare):
        lay = Layout.from_list(lshape, steps)
        if writes:
            arrays.append(buffers.full(shape, np.nan, dt))  # aligned, as compiled code gets them in a network
            outs.append((len(arrays) - 1, lay))
        else:
            data = np.load(src, allow_pickle=False)
            arrays.append(lay.to_physical(prepare_input(how, data) if how else data))
    prog(*arrays)
    for (i, lay), want_path in zip(outs, task["expected"]):
        got = lay.to_logical(arrays[i])
        want = np.load(want_path, allow_pickle=False)
        err = float(np.max(np.abs(got - want)) / max(1e-30, float(np.max(np.abs(want)))))
        if not err <= task["rtol"]:
            return {"error": R.WRONG_ANSWER, "message": f"relative error {err:.2e} (allowed {task['rtol']:.0e})"}
    if "launches" in task:
        costs = prog.samples(*arrays, repeat=task["repeat"], min_time=task["min_time"])
        return {"error": R.OK, "costs": costs, "disturbed": False, "timing": f"min {min(costs) * 1e6:.1f} us (CUDA "
                                                                              "events)"}
    t = prog.benchmark(*arrays, repeat=task["repeat"], min_time=task["min_time"],
                       max_slow=task.get("max_slow", MAX_SLOW))
    return timing_result(t)


def timing_result(t):
    """A run_task result of an alt.timing.Timing. A record's score is its fastest repeat, so its
    "slow" is the least slowed repeat's reading (Timing.slow_at_min): the candidate is timed again
    only when no repeat ran at speed."""
    return {"error": R.OK, "costs": t.samples, "disturbed": t.disturbed, "slow": t.slow_at_min, "timing": str(t)}


def settle_task(seconds):
    """In the run worker: wait, up to `seconds`, until the machine runs near its best speed again
    (alt.timing.at_speed); returns how much slower than its best it runs at the end."""
    from alt.timing import at_speed
    return at_speed(seconds)


def run_isolated(worker, task, timeout):
    """Run one built candidate (a run_task dict) in `worker` (search.worker.Worker): its result
    {error, message, costs}, a crash or a hang of the candidate included."""
    try:
        r = worker.call("run_task", [task], timeout)
    except WorkerTimeout:
        r = {"error": R.RUN_TIMEOUT, "message": f"no result within {timeout:.0f} s; the run was killed"}
    except WorkerCrash as e:
        r = {"error": R.CRASH, "message": f"the run worker {e}"}
    except TaskError as e:
        r = {"error": R.RUN_ERROR, "message": str(e)}
    return {"error": r["error"], "message": r.get("message", ""), "costs": r.get("costs", []),
            "disturbed": r.get("disturbed", False), "slow": r.get("slow", 1.0), "timing": r.get("timing", "")}


class WorkerPool(Executor):
    """An Executor of `n` worker processes (search.worker) for build_task, run_task and the strategy's
    features_task; a task past `timeout` seconds (counted from when a worker takes it) fails with
    WorkerTimeout and its worker is killed and replaced, so a stuck build never outlives the tuner."""

    def __init__(self, n, timeout):
        self.timeout = timeout
        self._queue = queue.Queue()
        self._workers = [Worker() for _ in range(max(1, n))]
        self.size = len(self._workers)
        self._threads = [threading.Thread(target=self._serve, args=(w,), daemon=True) for w in self._workers]
        for t in self._threads:
            t.start()

    def submit(self, fn, *args):
        name = getattr(fn, "__name__", "")
        if name not in ("build_task", "run_task", "features_task"):
            raise TypeError(f"WorkerPool runs build_task, run_task and features_task, not {fn!r}")
        f = Future()
        self._queue.put((f, name, args))
        return f

    def _serve(self, worker):
        try:
            while True:
                item = self._queue.get()
                if item is None:
                    return
                f, name, args = item
                if not f.set_running_or_notify_cancel():
                    continue
                try:
                    f.set_result(worker.call(name, args, self.timeout))
                except BaseException as e:  # noqa: BLE001 - handed to whoever waits on the future
                    f.set_exception(e)
        finally:
            worker.close(kill=True)

    def shutdown(self, wait=True, *, cancel_futures=False):
        if cancel_futures:
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    item[0].cancel()
        for _ in self._threads:
            self._queue.put(None)
        if wait:
            for t in self._threads:
                t.join()

    def kill(self):
        """Stop now: pending tasks are cancelled and busy workers killed (their futures fail)."""
        self.shutdown(wait=False, cancel_futures=True)
        for w in self._workers:
            w.close(kill=True)


class Measurer:
    """Measures points of one workload's space. Use as a context manager (it owns processes).

    Builds go to `executor` (default: a WorkerPool of one process per core, or threads of this
    process for an operator defined in the script being run, which no other process can import);
    runs go one at a time to a worker process of their own. A candidate's own failure (invalid,
    build error or timeout, crash, hang, wrong answer) is its result; a failure of the machinery
    (workers that cannot start, an executor that breaks) raises MeasureError and records nothing."""

    def __init__(self, workload, executor=None, build_timeout=120.0, run_timeout=30.0, repeat=5, min_time=0.02,
                 rtol=1e-3, seed=0, target=None, threads=None, proc_bind="close", wait_policy="default", attempts=3,
                 workdir=None, settle=1.0):
        from alt.target import resolve
        check_measure_options(build_timeout=build_timeout, run_timeout=run_timeout, repeat=repeat, min_time=min_time,
                              rtol=rtol, seed=seed, attempts=attempts, settle=settle)
        self.workload = workload
        self.target = check_runs_here(resolve(target))
        self.run_settings = run_settings(self.target, threads, proc_bind, wait_policy)
        self.attempts, self.settle = attempts, settle
        self._slow_streak = 0  # candidates in a row that the machine was slow through (see run)
        self.build_timeout, self.run_timeout = build_timeout, run_timeout
        self.repeat, self.min_time, self.rtol = repeat, min_time, rtol
        self._own_executor = executor is None
        if executor is not None:
            self.executor = executor
        elif workload.op.startswith("__main__:"):
            self.executor = ThreadPoolExecutor(max_workers=os.cpu_count() or 1)
        else:
            self.executor = WorkerPool(os.cpu_count() or 1, build_timeout)
        self.worker = Worker(env=omp_env(self.run_settings))
        # the reference inputs and outputs: under `workdir` where given (a dask worker's own directory,
        # which dask removes even when the worker is killed), else the system's temporary directory
        self._dir = tempfile.TemporaryDirectory(prefix="alt-measure-", dir=workdir)
        self.inputs, self.expected = _reference_files(workload, self._dir.name, seed)
        self.timings = {"build": 0.0, "run": 0.0}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.worker.close(kill=True)
        if isinstance(self.executor, WorkerPool):
            self.executor.kill()  # no build outlives the measurer, stuck or not
        elif self._own_executor:
            self.executor.shutdown(wait=False, cancel_futures=True)
        self._dir.cleanup()

    def measure(self, points, on_result=None, before_run=None):
        """A list of result dicts {error, message, costs} for `points`, in order. `on_result(i, result)`
        is called as soon as each one is final (so that it can be recorded at once). `before_run()`
        is called once the batch is built, before the first timing: it waits for whatever the
        caller did in the background during the builds (search.model.preload)."""
        results = [None] * len(points)

        def done(i, r):
            results[i] = r
            if on_result is not None:
                on_result(i, r)

        key = R.workload_key(self.workload)
        t0 = time.perf_counter()
        tgt = self.target.to_dict()
        futures = {self.executor.submit(build_task, key, p, tgt): i for i, p in enumerate(points)}
        built = []
        try:
            for f in as_completed(futures) if isinstance(self.executor, WorkerPool) else futures:
                b = self._built(f)
                if b["error"] == R.OK:
                    built.append((futures[f], b))
                else:
                    done(futures[f], dict(b, costs=[]))
        finally:
            for f in futures:
                f.cancel()
        self.timings["build"] += time.perf_counter() - t0
        if before_run is not None:
            before_run()
        t0 = time.perf_counter()
        for i, b in sorted(built, key=lambda x: x[0]):
            task = dict(b, inputs=self.inputs, expected=self.expected, rtol=self.rtol, repeat=self.repeat,
                        min_time=self.min_time)
            done(i, dict(self.run(task), schedule=b.get("schedule")))
        self.timings["run"] += time.perf_counter() - t0
        return results

    def run(self, task):
        """Run one built candidate. A timing that other processes disturbed, or that ran while the
        machine was slower than its best (alt.timing's canary), is run again (`attempts` in all)
        once the machine runs near its best speed or `settle` seconds have passed. One that stays
        disturbed is DISTURBED (costs kept, not a time); of timings that stay slow, the fastest is
        kept and its message says how slow the machine ran. Once the machine has stayed slow
        through SLOW_STREAK candidates in a row, it is slow for minutes, not a spell: candidates are
        timed once, as they run, until one runs at speed again (waiting would only cost time)."""
        slow = []
        long_slow = self._slow_streak >= SLOW_STREAK
        if long_slow:
            task = dict(task, max_slow=float("inf"))
        for attempt in range(self.attempts):
            r = run_isolated(self.worker, task, self.run_timeout)
            if r["error"] == R.OK and not r["disturbed"] and r["slow"] <= MAX_SLOW:
                self._slow_streak = 0
            if r["error"] != R.OK or (not r["disturbed"] and (r["slow"] <= MAX_SLOW or long_slow)):
                break
            if not r["disturbed"]:
                slow.append(r)
            if attempt + 1 == self.attempts:
                break
            if r["disturbed"]:
                time.sleep(0.2 * (attempt + 1))  # let the other process's burst pass
                continue
            try:
                self.worker.call("settle_task", [self.settle], self.settle + self.run_timeout)
            except (WorkerTimeout, WorkerCrash, TaskError):
                time.sleep(0.2 * (attempt + 1))
        if r["error"] != R.OK or (not r["disturbed"] and r["slow"] <= MAX_SLOW):
            return r
        if slow or (long_slow and not r["disturbed"]):
            r = min(slow or [r], key=lambda x: min(x["costs"]))
            self._slow_streak += 1
            n = len(slow) or 1
            return dict(r, message=f"the machine ran {r['slow']:.2f}x slower than its best during "
                                   + (f"all {n} timings" if n > 1 else "the timing")
                                   + " of this candidate that other processes left alone")
        return dict(r, error=R.DISTURBED, message=f"other processes took the CPU during all {self.attempts} "
                                                   f"timings ({r['timing']}); not a time of this candidate")

    def _built(self, future):
        """The build result of one future: the candidate's outcome, or MeasureError."""
        try:
            # a WorkerPool times each build itself, from when a worker takes it
            return future.result(timeout=None if isinstance(self.executor, WorkerPool) else self.build_timeout)
        except (WorkerTimeout, FutureTimeout):
            return {"error": R.BUILD_TIMEOUT, "message": f"build took over {self.build_timeout:.0f} s; it was "
                                                         "stopped"}
        except (WorkerCrash, TaskError) as e:
            return {"error": R.BUILD_ERROR, "message": f"the builder {e}" if isinstance(e, WorkerCrash) else str(e)}
        except MeasureError:
            raise
        except Exception as e:  # noqa: BLE001 - build_task catches a candidate's own errors: this is the executor
            raise MeasureError(f"the build executor failed ({type(e).__name__}: {e}); no candidate is to blame, "
                               "so none was recorded") from e


# "default": OMP_WAIT_POLICY unset, libgomp's own policy (spin a while, then sleep), as kernels run
# in a user's process; "active" would keep the run worker's threads spinning while builds run
WAIT_POLICIES = ("default", "active", "passive")
PROC_BINDS = ("close", "spread", "false", "true", "master")  # OMP_PROC_BIND


def check_measure_options(build_timeout=120.0, run_timeout=30.0, repeat=5, min_time=0.02, rtol=1e-3, seed=0,
                          attempts=3, settle=1.0, **others):
    """The Measurer's numeric options checked (OptionError naming the bad one); `others` are
    checked where they are used (threads, proc_bind, wait_policy: run_settings)."""
    check_numbers(build_timeout=(build_timeout, 0, False), run_timeout=(run_timeout, 0, False),
                  min_time=(min_time, 0, True), rtol=(rtol, 0, False), settle=(settle, 0, True))
    check_counts("measure", repeat=(repeat, 1), attempts=(attempts, 1), seed=(seed, 0))


def check_numbers(**values):
    """OptionError naming the first measure option (value, bound, bound allowed) that is not a
    number above its bound (or at it, where allowed)."""
    from alt.errors import OptionError
    for name, (v, bound, inclusive) in values.items():
        ok = isinstance(v, numbers.Real) and not isinstance(v, bool) and (v >= bound if inclusive else v > bound)
        if not ok or v != v or v == float("inf"):
            raise OptionError(f"measure: {name}={v!r}; give a number {'>=' if inclusive else '>'} {bound}")


def run_settings(target, threads=None, proc_bind="close", wait_policy="default"):
    """How candidates are run: {threads, proc_bind, wait_policy}, checked (OptionError)."""
    from alt.errors import OptionError
    threads = (target.cores if target.kind == "c" else 1) if threads is None else threads
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise OptionError(f"measure: threads={threads!r}; give a whole number >= 1 (the target has "
                          f"{getattr(target, 'cores', 1)} cores)")
    if proc_bind not in PROC_BINDS:
        raise OptionError(f"measure: proc_bind={proc_bind!r}; use one of {list(PROC_BINDS)} (OMP_PROC_BIND)")
    if wait_policy not in WAIT_POLICIES:
        raise OptionError(f"measure: wait_policy={wait_policy!r}; use one of {list(WAIT_POLICIES)} "
                          "(OMP_WAIT_POLICY)")
    return {"threads": threads, "proc_bind": proc_bind, "wait_policy": wait_policy}


def omp_env(settings):
    env = {"OMP_NUM_THREADS": str(settings["threads"]), "OMP_PROC_BIND": settings["proc_bind"]}
    if settings["wait_policy"] != "default":
        env["OMP_WAIT_POLICY"] = settings["wait_policy"].upper()
    return env


def check_runs_here(target):
    """`target`, or an OptionError when this machine cannot run its code."""
    from alt.errors import OptionError
    from alt.target import missing_flags
    if target.kind == "cuda":
        if not target.runs_here():
            raise OptionError(f"target {target}: no NVIDIA GPU of {target.arch} or newer with pycuda here, so its "
                              "kernels cannot be measured; tune on a GPU machine (pip install -e '.[cuda]'); "
                              "alt.build compiles for it anywhere and Kernel.emulate checks it on the CPU")
        import dataclasses
        from codegen.cuda_program import device_name
        return dataclasses.replace(target, model=target.model or device_name())
    if not target.runs_here():
        raise OptionError(f"target {target.name}: this machine lacks the CPU features its kernels use "
                          f"({', '.join(missing_flags(target))}), so they cannot be measured here; tune on such a "
                          f"machine ({_builds_here(target)})")
    return target


def _builds_here(target):
    """What alt.build can still do for a CPU target this machine cannot run."""
    import platform
    arm_here = platform.machine().lower() in ("aarch64", "arm64")
    if (target.isa == "neon") == arm_here:
        return "alt.build still compiles for it here"
    return "alt.build compiles for it only on a machine of its architecture, or with a cross compiler as ALT_CC"


def _reference_files(workload, directory, seed):
    """Seeded inputs and the interpreter's outputs (the reference semantics), as .npy files."""
    try:
        hash(workload)
        cached = _reference
    except TypeError:  # a workload whose params are not hashable (lists): computed each time
        cached = _reference.__wrapped__
    feed, want = cached(workload, seed)
    paths = []
    for a in feed:
        p = os.path.join(directory, f"in_{len(paths)}.npy")
        np.save(p, a)
        paths.append(p)
    paths.append(None)  # the output slot
    exp = os.path.join(directory, "expected.npy")
    np.save(exp, want)
    return paths, [exp]


@functools.lru_cache(maxsize=2)
def _reference(workload, seed):
    """(input arrays, expected output) of `workload` under `seed`, kept for the next Measurer of the
    same workload (experiments tune it once a strategy; a large reference takes a minute)."""
    from alt.interp import evaluate
    from alt.testing import random_inputs
    inputs, out = workload.build()
    feed = random_inputs(inputs, seed)
    want = evaluate(out, feed)
    for a in [want] + [feed[t] for t in inputs]:
        a.setflags(write=False)
    return [feed[t] for t in inputs], want
