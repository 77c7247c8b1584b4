"""Tuning records: an append-only JSON-lines log, one measured candidate a line.

Each line is flushed (and fsynced) as soon as its measurement finishes, so a killed tuner loses at
most the candidate in flight; a truncated last line is skipped with a warning when read back.
"""
import json
import logging
import os
import platform
import time

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


class Log:
    """Append records to a JSON-lines file; read them back, skipping a damaged last line."""

    def __init__(self, path):
        self.path = str(path)

    def append(self, rec):
        with open(self.path, "a") as f:
            f.write(json.dumps(rec, sort_keys=True) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def read(self, workload=None):
        if not os.path.exists(self.path):
            return []
        out = []
        with open(self.path) as f:
            lines = f.read().split("\n")
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                where = "last line" if i >= len(lines) - 2 else f"line {i + 1}"
                log.warning("%s: skipping a damaged %s (an interrupted write?)", self.path, where)
                continue
            if not isinstance(rec, dict) or rec.get("version") != FORMAT_VERSION:
                log.warning("%s: skipping line %d of another format version", self.path, i + 1)
                continue
            if workload is None or rec["workload"] == workload_key(workload):
                out.append(rec)
        return out

    def best(self, workload):
        good = [r for r in self.read(workload) if r["error"] == OK]
        return min(good, key=lambda r: min(r["costs"])) if good else None
