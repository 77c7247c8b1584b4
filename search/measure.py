"""Measurement: build candidates in parallel, run each in an isolated worker process, check its
output against the reference, and time it. A candidate that fails to build, crashes, hangs or
answers wrong is recorded with an error code and message, and tuning goes on.

Builds go to any concurrent.futures.Executor (a process pool by default; a Dask client's
`get_executor()` spreads them over machines). Runs go one at a time to a worker process of our
own, restarted when a candidate kills it or exceeds the run timeout.
"""
import multiprocessing as mp
import os
import tempfile
import time
import traceback
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from concurrent.futures import TimeoutError as FutureTimeout

import numpy as np

from . import records as R


def build_task(workload_key, point):
    """In a builder process: lower, render and compile one candidate. Returns a dict."""
    from alt.build import build
    from alt.ops import Workload
    from .space import Invalid, space_for
    t0 = time.perf_counter()
    try:
        w = Workload(workload_key["op"], workload_key["name"], tuple(workload_key["params"]))
        sch, args = space_for(w).apply(point)
        k = build(sch, args)
    except Invalid as e:
        return {"error": R.INVALID, "message": str(e)}
    except Exception as e:  # noqa: BLE001 - any failure of a candidate is data, not a tuner crash
        return {"error": R.BUILD_ERROR, "message": f"{type(e).__name__}: {e}"}
    return {"error": R.OK, "path": k.program.path, "fname": k.program.fname,
            "args": [[b.name, list(b.shape), b.dtype, w] for b, w in zip(k.program.buffers, k.program.writes)],
            "layouts": [[list(k.layouts[t.name].logical_shape), k.layouts[t.name].to_list()] for t in args],
            "build_s": time.perf_counter() - t0}


def run_task(task):
    """In the run worker: load, pack inputs, call, check against the expected outputs, time."""
    from alt.layout import Layout
    from codegen.program import CProgram
    from alt.stmt import Buffer
    bufs = [Buffer(n, shape, dt, "arg") for n, shape, dt, _ in task["args"]]
    prog = CProgram(task["path"], task["fname"], bufs, [w for *_, w in task["args"]])
    arrays, outs = [], []
    for (name, shape, dt, writes), (lshape, steps), src in zip(task["args"], task["layouts"], task["inputs"]):
        lay = Layout.from_list(lshape, steps)
        if writes:
            arrays.append(np.full(shape, np.nan, dtype=dt))
            outs.append((len(arrays) - 1, lay))
        else:
            arrays.append(lay.to_physical(np.load(src, allow_pickle=False)))
    prog(*arrays)
    for (i, lay), want_path in zip(outs, task["expected"]):
        got = lay.to_logical(arrays[i])
        want = np.load(want_path, allow_pickle=False)
        err = float(np.max(np.abs(got - want)) / max(1e-30, float(np.max(np.abs(want)))))
        if not err <= task["rtol"]:
            return {"error": R.WRONG_ANSWER, "message": f"relative error {err:.2e} (allowed {task['rtol']:.0e})"}
    t = prog.time(*arrays, repeat=task["repeat"], min_time=task["min_time"])
    return {"error": R.OK, "costs": [t]}


def _worker_loop(conn):
    while True:
        task = conn.recv()
        if task is None:
            return
        try:
            conn.send(run_task(task))
        except Exception as e:  # noqa: BLE001
            conn.send({"error": R.RUN_ERROR, "message": f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=3)}"})


class RunWorker:
    """A process that runs candidates; replaced when one crashes it or runs past the timeout."""

    def __init__(self):
        self._proc = None

    def _start(self):
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_worker_loop, args=(child,), daemon=True)
        self._proc.start()

    def run(self, task, timeout):
        if self._proc is None or not self._proc.is_alive():
            self._start()
        self._conn.send(task)
        if not self._conn.poll(timeout):
            self.close(kill=True)
            return {"error": R.RUN_TIMEOUT, "message": f"no result within {timeout:.0f} s; the run was killed"}
        try:
            return self._conn.recv()
        except (EOFError, OSError):
            self._proc.join(timeout=5)  # the pipe closes before the exit code is known
            code = self._proc.exitcode
            self.close(kill=True)
            return {"error": R.CRASH, "message": f"the run worker died (exit code {code}; a segfault is -11)"}

    def close(self, kill=False):
        if self._proc is None:
            return
        if kill:
            self._proc.kill()
        else:
            try:
                self._conn.send(None)
            except OSError:
                pass
        self._proc.join(timeout=5)
        self._proc = None


class Measurer:
    """Measures points of one workload's space. Use as a context manager (it owns processes)."""

    def __init__(self, workload, executor=None, build_timeout=120.0, run_timeout=30.0, repeat=5, min_time=0.02,
                 rtol=1e-3, seed=0):
        self.workload = workload
        self.build_timeout, self.run_timeout = build_timeout, run_timeout
        self.repeat, self.min_time, self.rtol = repeat, min_time, rtol
        self._own_executor = executor is None
        self.executor = executor or _pool()
        self.worker = RunWorker()
        self._dir = tempfile.TemporaryDirectory(prefix="alt-measure-")
        self.inputs, self.expected = _reference_files(workload, self._dir.name, seed)
        self.timings = {"build": 0.0, "run": 0.0}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.worker.close()
        if self._own_executor:
            self.executor.shutdown(wait=False, cancel_futures=True)
        self._dir.cleanup()

    def measure(self, points):
        """A list of result dicts {error, message, costs} for `points`, in order."""
        key = R.workload_key(self.workload)
        t0 = time.perf_counter()
        futures = [self.executor.submit(build_task, key, p) for p in points]
        built = []
        for f in futures:
            try:
                built.append(f.result(timeout=self.build_timeout))
            except FutureTimeout:
                built.append({"error": R.BUILD_TIMEOUT, "message": f"build took over {self.build_timeout:.0f} s"})
            except Exception as e:  # noqa: BLE001 - a builder process that died
                built.append({"error": R.BUILD_ERROR, "message": f"{type(e).__name__}: {e}"})
                if isinstance(e, BrokenProcessPool) and self._own_executor:
                    self.executor.shutdown(wait=False, cancel_futures=True)
                    self.executor = _pool()
        self.timings["build"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        results = []
        for b in built:
            if b["error"] != R.OK:
                results.append(dict(b, costs=[]))
                continue
            task = dict(b, inputs=self.inputs, expected=self.expected, rtol=self.rtol, repeat=self.repeat,
                        min_time=self.min_time)
            r = self.worker.run(task, self.run_timeout)
            results.append({"error": r["error"], "message": r.get("message", ""), "costs": r.get("costs", [])})
        self.timings["run"] += time.perf_counter() - t0
        return results


def _pool():
    return ProcessPoolExecutor(max_workers=os.cpu_count() or 1, mp_context=mp.get_context("spawn"))


def _reference_files(workload, directory, seed):
    """Seeded inputs and the interpreter's outputs (the reference semantics), as .npy files."""
    from alt.interp import evaluate
    from alt.testing import random_inputs
    inputs, out = workload.build()
    feed = random_inputs(inputs, seed)
    want = evaluate(out, feed)
    paths = []
    for t in inputs:
        p = os.path.join(directory, f"in_{len(paths)}.npy")
        np.save(p, feed[t])
        paths.append(p)
    paths.append(None)  # the output slot
    exp = os.path.join(directory, "expected.npy")
    np.save(exp, want)
    return paths, [exp]
