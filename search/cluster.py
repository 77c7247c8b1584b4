"""Measurement on a dask.distributed cluster: every candidate is one task that a worker builds and
times on its own machine.

    with ClusterMeasurer(workload, "tcp://host:8786") as m:      # or a distributed.Client
        results = m.measure(points, on_result=record)

`ClusterMeasurer` has the interface of search.measure.Measurer, so `tune(..., scheduler=...)` and
`alt tune --scheduler tcp://host:8786` use it in its place. What it adds:

- **Targets.** Candidates go only to workers whose machine is the tuning target: for the host
  target (`-march=native`), a worker whose CPU is the same (model, ISA, vector width, cores); for a
  named CPU, a worker that can run its code. Workers of other machines are left alone; none at all
  is an OptionError that lists what each worker is.
- **Isolation on the worker.** A worker measures with a Measurer of its own (one per workload and
  target, kept between tasks): builds and runs in processes of their own with their timeouts, the
  output checked against the interpreter before it is timed. A candidate that crashes or hangs is a
  record, as on one machine.
- **Workers that die.** The scheduler hands the tasks of a worker that died to another one; each
  candidate's future completes once, so none is lost and none is counted twice. A candidate whose
  workers died `allowed-failures` times (dask's setting) is recorded as CRASH. Its result names the
  worker and the CPU that measured it, and the record says so (`target.host`, `worker`).

Timings on one machine disturb each other: run one worker per machine, with one thread
(`dask worker tcp://host:8786 --nworkers 1 --nthreads 1`); workers that share a host get a warning.
"""
import json
import logging
import threading
import time

from . import records as R
from .measure import Measurer, MeasureError, run_settings

logger = logging.getLogger("alt.search")

_SESSIONS = {}  # on a worker: (workload, target, options) -> its Measurer, kept between tasks
_LOCK = threading.Lock()


def worker_machine(target_dict):
    """On a worker: what it is, and whether it is the machine of `target_dict`."""
    import socket
    from alt.target import Target, target_from_dict
    tgt = target_from_dict(target_dict)
    host = Target.host()
    if tgt.kind != "c":
        fits = tgt.runs_here()
    elif tgt.march == "native":
        fits = tgt.same_machine(host)
    else:
        fits = tgt.runs_here()
    return {"fits": bool(fits), "cpu": host.model, "host": socket.gethostname(), "target": host.name}


def measure_on_worker(workload_key, point, target_dict, options):
    """On a worker: build, check and time one candidate with the worker's own Measurer. Returns the
    Measurer's result dict, plus the worker and its CPU."""
    from alt.target import Target, target_from_dict
    try:
        from distributed import get_worker
        worker = get_worker()
        where, workdir = worker.address, worker.local_directory
    except (ImportError, ValueError):
        where, workdir = "local", None
    key = json.dumps([workload_key, target_dict, options], sort_keys=True)
    with _LOCK:  # one candidate at a time on a worker: two timings at once would disturb each other
        m = _SESSIONS.get(key)
        if m is None:
            w = R.workload_of(workload_key)
            m = _SESSIONS[key] = Measurer(w, target=target_from_dict(target_dict), workdir=workdir, **options)
        before = dict(m.timings)
        (r,) = m.measure([point])
        spent = {k: m.timings[k] - before[k] for k in before}
    return dict(r, worker=where, host=Target.host().model, spent=spent)


class ClusterMeasurer:
    """Measures points of one workload on a dask.distributed cluster (see the module doc).
    `scheduler` is a distributed.Client or a scheduler address; options are Measurer's."""

    def __init__(self, workload, scheduler, target=None, threads=None, proc_bind="close", wait_policy="default",
                 **options):
        from alt.errors import OptionError
        from alt.target import resolve
        try:
            import distributed
        except ImportError:
            raise OptionError("measuring on a cluster needs dask's distributed (pip install distributed)") from None
        self.workload = workload
        self.target = resolve(target)  # the workers check that they can run it; this machine need not
        self.run_settings = run_settings(self.target, threads, proc_bind, wait_policy)
        self.options = dict(options, threads=self.run_settings["threads"], proc_bind=proc_bind,
                            wait_policy=wait_policy)
        self._own_client = not isinstance(scheduler, distributed.Client)
        try:
            self.client = distributed.Client(scheduler, timeout="20s") if self._own_client else scheduler
        except (OSError, TimeoutError) as e:
            raise OptionError(f"scheduler={scheduler!r}: no dask scheduler answered there ({e}); give the "
                              "address `dask scheduler` printed, e.g. tcp://10.0.0.1:8786") from None
        except (ValueError, TypeError) as e:  # not an address at all (dask's parser says why)
            raise OptionError(f"scheduler={scheduler!r} is not a scheduler address ({e}); give the address "
                              "`dask scheduler` printed, e.g. tcp://10.0.0.1:8786, or a distributed.Client") from None
        self._distributed = distributed
        self.workers = self._eligible()
        self.timings = {"build": 0.0, "run": 0.0}

    def _eligible(self):
        from alt.errors import OptionError
        info = self.client.run(worker_machine, self.target.to_dict())
        fit = sorted(a for a, i in info.items() if i["fits"])
        if not fit:
            what = "; ".join(f"{a}: {i['cpu']} ({i['target']})" for a, i in sorted(info.items())) or "no workers"
            raise OptionError(f"no worker of the cluster is a {self.target} machine, so none may measure for it "
                              f"({what}); start workers on such machines, or tune for one of theirs")
        hosts = {}
        for a in fit:
            hosts.setdefault(info[a]["host"], []).append(a)
        for h, addrs in hosts.items():
            if len(addrs) > 1:
                logger.warning("workers %s share the host %s: their timings will disturb each other (run one "
                               "worker per machine, --nworkers 1 --nthreads 1)", ", ".join(addrs), h)
        return fit

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self._own_client:
            self.client.close()

    def measure(self, points, on_result=None, before_run=None):
        """A list of result dicts for `points`, in order; `on_result(i, result)` is called the
        moment each is final (so that it is logged at once), in the order they finish.
        `before_run()` is called first (as Measurer calls it before its first timing)."""
        if before_run is not None:
            before_run()
        key = R.workload_key(self.workload)
        tgt = self.target.to_dict()
        futures = {}
        for i, p in enumerate(points):
            f = self.client.submit(measure_on_worker, key, p, tgt, self.options, pure=False, workers=self.workers,
                                   allow_other_workers=False, key=f"alt-measure-{time.time_ns()}-{i}")
            futures[f] = i
        results = [None] * len(points)
        try:
            for f in self._distributed.as_completed(list(futures)):
                i = futures[f]
                r = self._result(f)
                for k, v in r.pop("spent", {}).items():
                    self.timings[k] = self.timings.get(k, 0.0) + v
                results[i] = r
                if on_result is not None:
                    on_result(i, r)
        finally:
            for f in futures:
                if not f.done():
                    f.cancel()
        return results

    def _result(self, future):
        try:
            return future.result()
        except self._distributed.KilledWorker as e:  # the candidate took its workers down, time after time
            return {"error": R.CRASH, "message": f"the dask workers measuring it died ({e})", "costs": []}
        except MeasureError:
            raise
        except Exception as e:  # noqa: BLE001 - a worker-side failure of the machinery, not of a candidate
            raise MeasureError(f"a cluster worker failed to measure ({type(e).__name__}: {e}); no candidate is to "
                               "blame, so none was recorded") from e
