"""Tuning records: an append-only JSON-lines log, one measured candidate a line.

Each line is flushed (and fsynced) as soon as its measurement finishes, so a killed tuner loses at
most the candidate in flight; damaged lines (a truncated last line, bad JSON or UTF-8, missing or
ill-typed fields, costs that are not positive finite seconds) are skipped with a warning naming the
file and line when read back.
"""
import json
import logging
import math
import os
import platform
import time
from functools import lru_cache

FORMAT_VERSION = 1
log = logging.getLogger("alt.search")

# error codes of a measurement (0: a checked, timed run)
OK, INVALID, BUILD_ERROR, BUILD_TIMEOUT, RUN_ERROR, RUN_TIMEOUT, WRONG_ANSWER, CRASH = range(8)
ERROR_NAMES = ("ok", "invalid", "build error", "build timeout", "run error", "run timeout", "wrong answer",
               "crash")


def workload_key(w):
    return {"op": w.op, "name": w.name, "params": list(w.params)}


def target():
    """The machine and flags a time was measured with."""
    from codegen.compiler import FLAGS
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "flags": " ".join(FLAGS)}


def make(w, point, costs, error=OK, message="", strategy=""):
    return {"version": FORMAT_VERSION, "workload": workload_key(w), "target": target(), "point": point,
            "costs": list(costs), "error": error, "error_name": ERROR_NAMES[error], "message": message[:2000],
            "strategy": strategy, "time": time.time()}


def gflops(rec, flops):
    return flops / min(rec["costs"]) / 1e9 if rec["error"] == OK and rec["costs"] else 0.0


@lru_cache(maxsize=1024)
def _params_ok(op, params):
    """Do `params` make a compute definition of suite operator `op` (flops too)?"""
    from alt.ops import Workload
    try:
        w = Workload(op, op, tuple(params))
        w.build()
        return w.flops > 0
    except Exception:  # noqa: BLE001 - any failure means the params are wrong
        return False



def problem(rec):
    """Why `rec` (a decoded JSON line) is not a usable record, or None if it is."""
    from alt.ops.suite import operator_codes
    if not isinstance(rec, dict):
        return f"a JSON {type(rec).__name__}, not an object"
    if rec.get("version") != FORMAT_VERSION:
        return f"format version {rec.get('version')!r}, not {FORMAT_VERSION}"
    w = rec.get("workload")
    if not isinstance(w, dict) or not all(isinstance(w.get(k), str) for k in ("op", "name")):
        return "no workload {op, name, params}"
    params = w.get("params")
    if not isinstance(params, list) or not all(isinstance(p, int) and not isinstance(p, bool) for p in params):
        return f"workload params {params!r} are not a list of integers"
    if w["op"] in operator_codes() and not _params_ok(w["op"], tuple(params)):
        return f"params {params} are wrong for operator {w['op']}"
    if not isinstance(rec.get("point"), dict):
        return "no point (an object of knob values)"
    err = rec.get("error")
    if not isinstance(err, int) or isinstance(err, bool) or not 0 <= err < len(ERROR_NAMES):
        return f"error code {err!r} is not one of 0..{len(ERROR_NAMES) - 1}"
    costs = rec.get("costs")
    if not isinstance(costs, list) or not all(isinstance(c, (int, float)) and not isinstance(c, bool)
                                              and math.isfinite(c) and c > 0 for c in costs):
        return f"costs {costs!r} are not a list of positive finite seconds"
    if err == OK and not costs:
        return "an OK record without costs"
    if not isinstance(rec.get("strategy", ""), str) or not isinstance(rec.get("message", ""), str):
        return "strategy or message is not a string"
    return None


class Log:
    """Append records to a JSON-lines file; read them back, skipping damaged lines with a warning."""

    def __init__(self, path):
        self.path = str(path)

    def append(self, rec):
        """Write `rec` as one line and fsync it: durable when this returns. A last line cut off by a
        killed writer is closed first, so the new record starts a line of its own."""
        line = json.dumps(rec, sort_keys=True, allow_nan=False) + "\n"
        with open(self.path, "ab") as f:
            if f.tell() > 0:
                with open(self.path, "rb") as r:
                    r.seek(-1, os.SEEK_END)
                    if r.read(1) != b"\n":
                        line = "\n" + line
            f.write(line.encode())
            f.flush()
            os.fsync(f.fileno())

    def exists(self):
        return os.path.exists(self.path)

    def read(self, workload=None):
        """The usable records (of `workload`, if given); each damaged line is skipped with one
        warning naming the file, the line number and what is wrong with it."""
        if not os.path.exists(self.path):
            return []
        out = []
        key = workload_key(workload) if workload is not None else None
        with open(self.path, "rb") as f:
            lines = f.read().split(b"\n")
        for i, raw in enumerate(lines, 1):
            if not raw.strip():
                continue
            try:
                rec = json.loads(raw.decode("utf-8"))
                why = problem(rec)
            except UnicodeDecodeError:
                why = "not valid UTF-8"
            except ValueError:
                why = "not valid JSON (an interrupted write?)"
            if why:
                log.warning("%s:%d: skipping a damaged record: %s", self.path, i, why)
                continue
            if key is None or rec["workload"] == key:
                out.append(rec)
        return out

    def best(self, workload):
        good = [r for r in self.read(workload) if r["error"] == OK]
        return min(good, key=lambda r: min(r["costs"])) if good else None
