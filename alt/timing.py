"""One way of timing a call, shared by kernels, networks, the tuner and the experiments' baselines.

A busy machine distorts times in two ways, and `benchmark` watches for both around every repeat:

- another process holds a core: a small OpenMP kernel waits for its descheduled thread, and a
  0.2 ms kernel measures 8 ms. This process's threads then sit runnable but waiting for a CPU, which
  the kernel reports (schedstat, nanoseconds per thread);
- the machine itself runs slower for a while: a virtual machine's CPUs lose speed to a neighbour on
  the host, for seconds to minutes, one CPU more than the other (measured on a 2-core cloud VM: in
  three runs of 2-3 minutes, 24%, 36% and 81% of a conv kernel's timings were 1.25-2.4x slower than
  its best). No process of ours waits, so schedstat
  sees nothing. A `Canary`, a fixed piece of work timed on each CPU between repeats against the
  fastest it ever ran there, sees it.

A repeat that waited more than `max_wait` of its time, or that ran while the canary (before and after
it) was more than `max_slow` slower than its best, is thrown away and run again; one kept anyway
says so (`Timing.disturbed`, `Timing.slow`). A machine slow for minutes is not an error: its times
are kept, with how slow it was, and the tuner tries again once it runs at speed. Repeats are
batches of calls lasting at least `min_time` (TVM's min_repeat_ms), and the result keeps every
repeat, so min and median are both at hand.
"""
import glob
import json
import math
import numbers
import os
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from .buffers import empty
from .errors import OptionError, check_counts

MAX_WAIT = 0.05  # share of a repeat's time this process may spend waiting for a CPU
MAX_SPREAD = 1.25  # median / min above which a timing counts as disturbed
MAX_SLOW = 1.2  # the canary this much slower than its best, before and after a repeat: the machine was slow


def runqueue_wait():
    """Seconds this process's threads have spent runnable but waiting for a CPU (None where the
    kernel does not report it)."""
    total, seen = 0, False
    for path in glob.glob("/proc/self/task/*/schedstat"):
        try:
            with open(path) as f:
                total += int(f.read().split()[1])
            seen = True
        except (OSError, IndexError, ValueError):
            continue
    return total * 1e-9 if seen else None


def _allowed_cpus():
    """The CPUs any thread of this process may run on (OpenMP may have bound the main thread to one)."""
    cpus = set()
    for path in glob.glob("/proc/self/task/*/status"):
        try:
            with open(path) as f:
                line = next((x for x in f if x.startswith("Cpus_allowed_list:")), "")
        except OSError:
            continue
        for part in line.partition(":")[2].strip().split(","):
            lo, _, hi = part.partition("-")
            if lo.strip().isdigit():
                cpus.update(range(int(lo), int(hi or lo) + 1))
    return sorted(cpus)


class Canary:
    """How much slower this machine runs now than at its best: a fixed piece of work (`calls`
    elementwise products of `size` floats, about 50 us, the fastest of `runs`) timed on each CPU in
    turn, the calling thread pinned there, against the fastest it has ever run on that CPU.
    `slowdown()` is the largest ratio over the CPUs: a kernel spread over all of them waits for the
    slowest. With more than `max_cpus` CPUs (or no way to pin a thread) it is timed where the thread
    runs. One canary serves the process (`canary()`); probes are serialized by a lock.

    With a `store` (a JSON file; `canary()` keeps one in alt's cache folder), the best times are
    shared by the processes of this boot of this machine: a fresh process (each tuning run's
    measurement worker) otherwise takes its first reading as the best, and a slow spell at its start
    passed as full speed (a 2-thread conv kernel measured at half speed, one CPU slowed, unflagged)."""

    def __init__(self, size=16384, calls=20, runs=5, max_cpus=8, store=None):
        rng = np.random.default_rng(0)
        # at a cache line: where numpy put them, the same work took 33-68 us by process on an Intel
        # Xeon (loads and stores split across lines), and one process's lucky best made every other
        # read the machine as 2x slow; aligned, it takes 36-38 us in every process
        self._x, self._y, self._z = (empty(size, np.float32) for _ in range(3))
        self._x[:], self._y[:] = rng.random(size, np.float32), rng.random(size, np.float32)
        self.calls, self.runs = calls, runs
        cpus = _allowed_cpus() if hasattr(os, "sched_setaffinity") else []
        self.cpus = cpus if 1 < len(cpus) <= max_cpus else [None]
        self._lock = threading.Lock()
        boot = _boot_id()
        self.store = store if boot else None
        self._key = f"{boot} {size}x{calls}x{runs} aligned"  # stores of unaligned canaries are ignored
        self.best = {cpu: t for cpu, t in self._stored().items() if cpu in self.cpus}

    def _read(self):
        """The store's entries of this boot ({} without a store, or one that cannot be read)."""
        if self.store is None:
            return {}
        try:
            with open(self.store) as f:
                data = json.load(f)
        except (OSError, ValueError):
            return {}
        boot = self._key.split(" ")[0]
        return {k: v for k, v in data.items() if k.split(" ")[0] == boot} if isinstance(data, dict) else {}

    def _stored(self, data=None):
        """{cpu: best seconds} of the store (or of `data`, its entries) for this boot and probe."""
        entry = (self._read() if data is None else data).get(self._key)
        try:
            return {None if k == "any" else int(k): float(v) for k, v in entry.items() if float(v) > 0}
        except (AttributeError, TypeError, ValueError):
            return {}

    def _save(self):
        """Merge this process's bests into the store (the faster of each), replacing it atomically."""
        if self.store is None:
            return
        data = self._read()
        merged = self._stored(data)
        for cpu, t in self.best.items():
            merged[cpu] = min(t, merged.get(cpu, t))
        data[self._key] = {("any" if cpu is None else str(cpu)): t for cpu, t in merged.items()}
        tmp = None
        try:
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(self.store)), prefix=".canary")
            with os.fdopen(fd, "w") as f:
                json.dump(data, f)
            os.replace(tmp, self.store)
        except OSError:  # a read-only cache: this process keeps its own bests
            if tmp is not None and os.path.exists(tmp):
                os.unlink(tmp)

    def _time(self):
        best = float("inf")
        for _ in range(self.runs):
            t0 = time.perf_counter()
            for _ in range(self.calls):
                np.multiply(self._x, self._y, out=self._z)
            best = min(best, time.perf_counter() - t0)
        return best

    def slowdown(self):
        """Now against the best seen, on the slowest CPU now (1.0: as fast as ever)."""
        with self._lock:
            worst, improved = 1.0, False
            home = os.sched_getaffinity(0) if self.cpus != [None] else None
            try:
                for cpu in self.cpus:
                    if cpu is not None:
                        try:
                            os.sched_setaffinity(0, {cpu})
                        except OSError:  # taken away from this process since
                            continue
                    t = self._time()
                    improved |= t < self.best.get(cpu, float("inf"))
                    best = self.best[cpu] = min(self.best.get(cpu, t), t)
                    if best > 0:
                        worst = max(worst, t / best)
            finally:
                if home is not None:
                    os.sched_setaffinity(0, home)
            if improved:
                self._save()
            return worst


_canary = []
_canary_lock = threading.Lock()


def canary():
    """The process's Canary (made on first use), its best times shared through alt's cache folder
    (ALT_CACHE_DIR, else ~/.cache/alt) with the other processes of this boot."""
    with _canary_lock:
        if not _canary:
            from codegen.compiler import cache_dir
            _canary.append(Canary(store=str(cache_dir().parent / "canary.json")))
        return _canary[0]


def _boot_id():
    """This boot of this machine (Linux), or None: a store of best times is only valid within one."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip() or None
    except OSError:
        return None


class _NoCanary:
    @staticmethod
    def slowdown():
        return 1.0


@dataclass
class Timing:
    """Seconds per call of every kept repeat, with what was seen of interference."""
    samples: list
    number: int = 1  # calls per repeat
    discarded: int = 0  # repeats run again: the process waited for a CPU, or the machine ran slow
    waited: list = field(default_factory=list)  # seconds waited for a CPU during each kept repeat
    slowed: list = field(default_factory=list)  # how much slower than its best the machine ran, each kept repeat

    @property
    def min(self):
        return min(self.samples)

    @property
    def median(self):
        return statistics.median(self.samples)

    @property
    def spread(self):
        return self.median / self.min

    @property
    def disturbed(self):
        """Did another process's interference survive the retries (a kept repeat that waited for a
        CPU, or a wide spread)?"""
        return self.spread > MAX_SPREAD or any(w > MAX_WAIT * s * self.number for w, s in
                                               zip(self.waited, self.samples))

    @property
    def slow(self):
        """How much slower than its best the machine ran during the kept repeats (the canary's
        reading; over MAX_SLOW: the times are the machine's as much as the code's)."""
        return max(self.slowed, default=1.0)

    @property
    def slow_at_min(self):
        """How much slower than its best the machine ran during the least slowed kept repeat. A slow
        machine only lengthens a repeat, so the fastest repeat (`min`) is a full-speed time as soon
        as one kept repeat ran at speed: for a score that is the min (the tuner's), this reading,
        not `slow`, says whether the machine distorted it. (On a 2-core AMD EPYC cloud VM the
        canary read over MAX_SLOW on about half its probes, most of them blips: its readings 1 s
        apart were uncorrelated. Judged by `slow`, 17 of 36 candidates of an R18-8 run ended flagged
        slow after being timed again, with pauses, and running took 1.75 s a candidate; by this, 1 of 36
        and 1.1 s.)"""
        return min(self.slowed, default=1.0)

    def __str__(self):
        slow = self.slow
        return (f"min {self.min * 1e3:.4g} ms, median {self.median * 1e3:.4g} ms over {len(self.samples)} x "
                f"{self.number} calls" + (f", {self.discarded} repeats disturbed and rerun" if self.discarded else "")
                + (f", the machine ran up to {slow:.2f}x slower than its best" if slow > MAX_SLOW else ""))


def benchmark(run, number=None, repeat=5, warmup=1, min_time=0.01, max_wait=MAX_WAIT, retries=None, probe=True,
              max_slow=MAX_SLOW):
    """Time `run()`: `repeat` batches of `number` calls after `warmup` calls. With number=None, a
    batch is grown until it lasts at least `min_time` seconds. A batch during which this process
    waited for a CPU more than `max_wait` of the time is discarded and run again after a pause, up
    to `retries` times in all (default 2 * repeat); so is a batch during which the machine ran more
    than `max_slow` slower than its best (the canary before and after it; `probe=False` does not
    look, and a Canary may be given), up to `repeat` times of those `retries` and without a pause
    (a slow spell lasts seconds: waiting it out is the tuner's choice, not one timing's). After that
    the batches are kept, and say so (Timing.disturbed, Timing.slow)."""
    check_counts("timing", ("number", "retries"), repeat=(repeat, 1), warmup=(warmup, 0), number=(number, 1),
                 retries=(retries, 0))
    if not isinstance(min_time, numbers.Real) or isinstance(min_time, bool) or not min_time >= 0:
        raise OptionError(f"timing: min_time={min_time!r}; give seconds >= 0")
    for _ in range(warmup):
        run()
    retries = 2 * repeat if retries is None else retries
    if number is None:
        number = _calibrate(run, min_time, max_wait, retries)
    gauge = canary() if probe is True else (probe or _NoCanary)
    out = Timing([], number)
    before, slow_reruns = gauge.slowdown(), 0
    while len(out.samples) < repeat:
        dt, waited = _batch(run, number)
        after = gauge.slowdown()
        slowed, before = min(before, after), after
        if out.discarded < retries:
            if waited > max_wait * dt:
                out.discarded += 1
                time.sleep(min(0.05 * out.discarded, 0.5))  # let the other process's burst pass
                before = gauge.slowdown()
                continue
            if slowed > max_slow and slow_reruns < repeat:
                out.discarded += 1
                slow_reruns += 1
                continue
        out.samples.append(dt / number)
        out.waited.append(waited)
        out.slowed.append(slowed)
    return out


def undisturbed(take, attempts=3, pause=0.2):
    """The first Timing of `take()` (a call of benchmark) that other processes did not disturb,
    taken up to `attempts` times with a growing pause between (a busy machine's burst passes);
    else the least disturbed of them (lowest median), still saying `disturbed`."""
    seen = []
    for attempt in range(attempts):
        t = take()
        if not t.disturbed:
            return t
        seen.append(t)
        if attempt + 1 < attempts:
            time.sleep(pause * (attempt + 1))
    return min(seen, key=lambda t: t.median)


def at_speed(seconds, max_slow=MAX_SLOW, poll=0.2):
    """Wait, up to `seconds`, until the machine runs within `max_slow` of its best speed (the
    canary); returns how much slower than its best it runs at the end (a slow spell of a virtual
    machine's host lasts seconds to minutes: a timing started in one measures the neighbour)."""
    deadline = time.monotonic() + seconds
    while True:
        slow = canary().slowdown()
        if slow <= max_slow or time.monotonic() >= deadline:
            return slow
        time.sleep(poll)


def _batch(run, number):
    """Seconds taken by `number` calls, and seconds this process waited for a CPU meanwhile."""
    w0 = runqueue_wait()
    t0 = time.perf_counter()
    for _ in range(number):
        run()
    dt = time.perf_counter() - t0
    return dt, (runqueue_wait() - w0) if w0 is not None else 0.0


def _calibrate(run, min_time, max_wait, retries):
    """The calls per batch that last `min_time`: a batch that fell short is grown to what its time
    per call says would last min_time with a tenth to spare (as TVM's time evaluator scales it),
    not doubled. Doubling spent up to twice min_time calibrating and left batches up to twice as
    long as asked: a tuner's candidate took 1.1-1.5x as long to time, with the same median. A batch
    that waited for a CPU is slow for a reason of another process's, so it is run again (up to
    `retries` times) instead of being taken as the size: a stalled calibration would otherwise
    leave batches far shorter than min_time."""
    number, disturbed = 1, 0
    while True:
        dt, waited = _batch(run, number)
        if waited > max_wait * dt and disturbed < retries:
            disturbed += 1
            time.sleep(min(0.05 * disturbed, 0.5))
            continue
        if dt >= min_time or number >= 1 << 20:
            return number
        grow = 1.1 * min_time / dt if dt > 0 else 100.0  # (a clock too coarse to see the batch: 100x)
        number = min(1 << 20, max(number + 1, math.ceil(number * grow)))


def measure(run, number=None, repeat=5, warmup=1, min_time=0.01):
    """Median seconds per call of `run()` (see benchmark)."""
    return benchmark(run, number, repeat, warmup, min_time).median
