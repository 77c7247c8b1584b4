"""Tuning records: an append-only JSON-lines log, one measured candidate a line.

A record is what TVM's TuningRecord holds: the workload, the schedule itself (its replayable steps,
so a log keeps its meaning when a template changes; the knob point is kept as a label), the costs
(seconds per call of every timed repeat: min and median at hand), the target it was measured on
(CPU model, ISA, cores, compiler flags) and how it was run (threads, OpenMP settings); with the
strategy that proposed it, the `settings` it was given, if any (search.strategy.OPTIONS).

Each line is flushed (and fsynced) as soon as its measurement finishes, so a killed tuner loses at
most the candidate in flight; damaged lines (a truncated last line, bad JSON or UTF-8, missing or
ill-typed fields, costs that are not positive finite seconds) are skipped with a warning naming the
file and line when read back. Version 1 records (no schedule, no target model) are still read.
"""
import json
import logging
import math
import os
import time
from functools import lru_cache

from alt.errors import OptionError

FORMAT_VERSION = 2
READABLE = (1, 2)
log = logging.getLogger("alt.search")

# error codes of a measurement (0: a checked, timed run). DISTURBED: checked, but every timing of it
# was distorted by other processes taking the CPU; its costs are kept, never used as its time.
OK, INVALID, BUILD_ERROR, BUILD_TIMEOUT, RUN_ERROR, RUN_TIMEOUT, WRONG_ANSWER, CRASH, DISTURBED = range(9)
ERROR_NAMES = ("ok", "invalid", "build error", "build timeout", "run error", "run timeout", "wrong answer",
               "crash", "disturbed")


def workload_key(w):
    return {"op": w.op, "name": w.name, "params": list(w.params)}


def workload_of(key):
    """The alt.ops.Workload a record's (or a task's) workload key names: workload_key undone."""
    from alt.ops import Workload
    return Workload(key["op"], key["name"], tuple(key["params"]))


def target_record(target):
    """What a record says of the machine: the target's fields, the compiler flags, and the CPU the
    time was measured on (`host`: the same as `model` for the host target)."""
    from alt.target import Target
    if target.kind == "cuda":  # the GPU's name is its model (check_runs_here fills it in)
        from codegen.nvcc import FLAGS
        return dict(target.to_dict(), flags=" ".join(FLAGS + (f"-arch={target.arch}",)), host=Target.host().model)
    from codegen.compiler import flags
    return dict(target.to_dict(), flags=" ".join(flags(target)), host=Target.host().model)


def make(w, point, costs, error=OK, message="", strategy="", target=None, run=None, schedule=None, **extra):
    """One record. `target`: the alt.Target measured on (default: the current one); `run`: how the
    kernel was run ({threads, proc_bind, wait_policy}); `schedule`: its steps (json.loads of Schedule.to_json)."""
    from alt.target import resolve
    rec = {"version": FORMAT_VERSION, "workload": workload_key(w), "target": target_record(resolve(target)),
           "run": dict(run or {}), "point": point, "schedule": schedule, "costs": list(costs), "error": error,
           "error_name": ERROR_NAMES[error], "message": message[:2000], "strategy": strategy, "time": time.time()}
    rec.update(extra)
    return rec


def measured_on(rec, target):
    """Was `rec` measured for `target` (same CPU, ISA and cores) on a CPU of this machine's model?"""
    from alt.target import Target, TargetError
    t = rec.get("target")
    try:
        return target.same_machine(t) and t.get("host") == Target.host().model
    except (TargetError, AttributeError):  # a version 1 record, or one from another tool: not known to be here
        return False


def machine_of(rec):
    t = rec.get("target") if isinstance(rec.get("target"), dict) else {}
    host = t.get("host") or t.get("model") or t.get("cpu") or "an unknown CPU"
    return host if t.get("march") in (None, "native") else f"{t['name']} on {host}"


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
    if rec.get("version") not in READABLE:
        return f"format version {rec.get('version')!r}, not one of {list(READABLE)}"
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
    if rec["version"] >= 2:
        if not isinstance(rec.get("target"), dict):
            return "no target (an object naming the machine)"
        sch = rec.get("schedule")
        if sch is not None and not (isinstance(sch, dict) and isinstance(sch.get("steps"), list)):
            return "schedule is not a saved schedule {version, steps}"
    return None


NETWORK = "network"


def make_network(graph_name, signature, strategy, choices, layouts, target, **extra):
    """A network record: which point of which workload each layout-sensitive node uses
    (`choices` {node: {"workload": workload_key, "point": point}}) and the layouts the graph-level
    selection gave the convolutions (`layouts` {node: [input layout or None, output layout]})."""
    rec = {"version": FORMAT_VERSION, "kind": NETWORK, "network": graph_name, "signature": signature,
           "strategy": strategy, "choices": choices, "layouts": layouts, "target": target_record(target),
           "time": time.time()}
    rec.update(extra)
    return rec


def network_problem(rec):
    if not isinstance(rec.get("signature"), str) or not isinstance(rec.get("network"), str):
        return "no network name or signature"
    if not isinstance(rec.get("target"), dict):
        return "no target (an object naming the machine)"
    choices, layouts = rec.get("choices"), rec.get("layouts")
    if not isinstance(choices, dict) or not all(isinstance(c, dict) and isinstance(c.get("point"), dict) and
                                                isinstance(c.get("workload"), dict) for c in choices.values()):
        return "choices are not {node: {workload, point}}"
    if not isinstance(layouts, dict) or not all(isinstance(v, list) and len(v) == 2 and
                                                all(x is None or isinstance(x, str) for x in v)
                                                for v in layouts.values()):
        return "layouts are not {node: [input layout or null, output layout]}"
    wino = rec.get("winograd", {})
    if not isinstance(wino, dict) or not all(isinstance(k, str) and v in (2, 4) for k, v in wino.items()):
        return "winograd is not {node: output tile 2 or 4}"
    return None


def winner(good):
    """The fastest of OK records (by the minimum time of each): among the final re-measurements
    of the best candidates (search.tune), if there are any, else among all."""
    final = [r for r in good if r.get("phase") == "final"]
    return min(final or good, key=lambda r: min(r["costs"]))


class Log:
    """Append records to a JSON-lines file; read them back, skipping damaged lines with a warning."""

    def __init__(self, path):
        self.path = str(path)

    @classmethod
    def for_writing(cls, path, what):
        """The Log at `path` (None for None), checked before any work is done: a path that cannot be
        appended to (a directory, a missing folder, no permission) is an OptionError naming `what`,
        the path and why, instead of an OSError once the first measurement is done."""
        if path is None or path == "":
            return None
        log = cls(path)
        try:
            with open(log.path, "ab"):
                pass
        except OSError as e:
            raise OptionError(f"{what}: cannot write the tuning log {log.path!r} ({e.strerror or e}); give the "
                              "path of a file in a folder that exists and is writable") from None
        return log

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

    def _lines(self):
        """The file's lines as bytes ([] when there is no file); a path that cannot be read (a
        directory, no permission) is an OptionError naming it, not an OSError from deep inside."""
        if not os.path.exists(self.path):
            return []
        try:
            with open(self.path, "rb") as f:
                return f.read().split(b"\n")
        except OSError as e:
            raise OptionError(f"cannot read the tuning log {self.path!r} ({e.strerror or e}); give the path of a "
                              "log file that search.tune, tune_network or `alt tune` wrote") from None

    def read(self, workload=None):
        """The usable records (of `workload`, if given); each damaged line is skipped with one
        warning naming the file, the line number and what is wrong with it."""
        out = []
        key = workload_key(workload) if workload is not None else None
        for i, raw in enumerate(self._lines(), 1):
            if not raw.strip():
                continue
            try:
                rec = json.loads(raw.decode("utf-8"))
                if isinstance(rec, dict) and rec.get("kind") == NETWORK:
                    continue  # a network's choices (read_networks)
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

    def read_networks(self, signature=None):
        """The network records (search.network: a tuned network's layout assignment and the point
        of each operator), of the graph with `signature` if given; damaged ones skipped with a warning."""
        out = []
        for i, raw in enumerate(self._lines(), 1):
            try:
                rec = json.loads(raw.decode("utf-8")) if raw.strip() else None
            except (UnicodeDecodeError, ValueError):
                continue  # read() warns about damaged lines
            if not isinstance(rec, dict) or rec.get("kind") != NETWORK:
                continue
            why = network_problem(rec)
            if why:
                log.warning("%s:%d: skipping a damaged network record: %s", self.path, i, why)
            elif signature is None or rec["signature"] == signature:
                out.append(rec)
        return out

    def best(self, workload, target=None):
        """The fastest OK record of `workload`, preferring records measured on the same kind of
        machine as `target` (default: the current one); one measured elsewhere is returned with a
        warning naming both machines."""
        from alt.target import resolve
        target = resolve(target)
        good = [r for r in self.read(workload) if r["error"] == OK]
        if not good:
            return None
        here = [r for r in good if measured_on(r, target)]
        best = winner(here or good)
        if not here:
            log.warning("%s: no record of %s was measured on this machine (%s); using the best one, measured on "
                        "%s: its speed here is not known", self.path, workload.name, target.model or target.name,
                        machine_of(best))
        return best
