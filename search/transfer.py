"""Transfer learning of the cost model (AutoTVM's): the measurements of other workloads warm-start
the model of a new one, so that its first proposals after the hand seeds are guided already.

    best, kernel = search.tune("R18-8", trials=32, log="new.jsonl", transfer=["r50.jsonl", "gmm.jsonl"])

Features are read off each candidate's lowered program (search.features), so they mean the same
for any operator; a workload's throughputs are divided by its own best, so every workload counts
as "1.0 is the best of its space". Only OK records measured on this machine for this target are
used, and never those of the workload being tuned (the log warms the model with those already).
"""
import numpy as np

from alt.errors import OptionError

from . import records as R
from .space import Invalid, space_for


def transfer_data(logs, workload, target, limit=1024):
    """(X, y): features and normalized throughput of at most `limit` records of other workloads in
    `logs` (a path or a list of paths), measured on `target`'s machine; the newest first."""
    from alt.lower import lower
    from .features import extract
    paths = [logs] if isinstance(logs, (str, bytes)) or hasattr(logs, "__fspath__") else list(logs)
    mine = R.workload_key(workload)
    by_workload = {}
    for path in paths:
        log = R.Log(path)
        if not log.exists():
            raise OptionError(f"search.tune: transfer log {str(path)!r} does not exist; give logs of earlier tunings")
        for r in log.read():
            if r["error"] == R.OK and r["workload"] != mine and R.measured_on(r, target) and r.get("phase") != "final":
                by_workload.setdefault(_key(r["workload"]), []).append(r)
    X, y = [], []
    per = max(1, limit // max(1, len(by_workload)))
    for recs in by_workload.values():
        wk = recs[0]["workload"]
        w = R.workload_of(wk)
        space = space_for(w, target)
        best = max(1.0 / min(r["costs"]) for r in recs)
        for r in recs[-per:]:
            try:
                sch, args = space.apply(r["point"])
            except Invalid:  # a point of an older template that no longer builds
                continue
            X.append(extract(lower(sch, args), space.target))
            y.append(1.0 / min(r["costs"]) / best)
    return np.array(X, float), np.array(y, float)


def _key(wk):
    return (wk["op"], wk["name"], tuple(wk["params"]))
