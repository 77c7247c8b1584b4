"""One way of timing a call, shared by kernels, networks, the tuner and the experiments' baselines.

A busy machine distorts times: when another process holds a core, a small OpenMP kernel waits for
its descheduled thread, and a 0.2 ms kernel measures 8 ms. `benchmark` sees that directly: it
reads how long this process's threads sat runnable but waiting for a CPU (the kernel's schedstat,
nanoseconds per thread) around every repeat, and a repeat that waited more than `max_wait` of its
time is thrown away and run again. Repeats are batches of calls lasting at least `min_time`
(TVM's min_repeat_ms), and the result keeps every repeat, so min and median are both at hand.
"""
import glob
import statistics
import time
from dataclasses import dataclass, field

MAX_WAIT = 0.05  # share of a repeat's time this process may spend waiting for a CPU
MAX_SPREAD = 1.25  # median / min above which a timing counts as disturbed


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


@dataclass
class Timing:
    """Seconds per call of every kept repeat, with what was seen of interference."""
    samples: list
    number: int = 1  # calls per repeat
    discarded: int = 0  # repeats run again because the process waited for a CPU
    waited: list = field(default_factory=list)  # seconds waited for a CPU during each kept repeat

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
        """Did interference survive the retries (a kept repeat that waited, or a wide spread)?"""
        return self.spread > MAX_SPREAD or any(w > MAX_WAIT * s * self.number for w, s in
                                               zip(self.waited, self.samples))

    def __str__(self):
        return (f"min {self.min * 1e3:.4g} ms, median {self.median * 1e3:.4g} ms over {len(self.samples)} x "
                f"{self.number} calls" + (f", {self.discarded} repeats disturbed and rerun" if self.discarded else ""))


def benchmark(run, number=None, repeat=5, warmup=1, min_time=0.01, max_wait=MAX_WAIT, retries=None):
    """Time `run()`: `repeat` batches of `number` calls after `warmup` calls. With number=None, a
    batch is grown until it lasts at least `min_time` seconds. A batch during which this process
    waited for a CPU more than `max_wait` of the time is discarded and run again, up to `retries`
    times in all (default 2 * repeat); after that the disturbed batches are kept (Timing.disturbed)."""
    for _ in range(warmup):
        run()
    retries = 2 * repeat if retries is None else retries
    if number is None:
        number = _calibrate(run, min_time, max_wait, retries)
    out = Timing([], number)
    while len(out.samples) < repeat:
        dt, waited = _batch(run, number)
        if waited > max_wait * dt and out.discarded < retries:
            out.discarded += 1
            time.sleep(min(0.05 * out.discarded, 0.5))  # let the other process's burst pass
            continue
        out.samples.append(dt / number)
        out.waited.append(waited)
    return out


def _batch(run, number):
    """Seconds taken by `number` calls, and seconds this process waited for a CPU meanwhile."""
    w0 = runqueue_wait()
    t0 = time.perf_counter()
    for _ in range(number):
        run()
    dt = time.perf_counter() - t0
    return dt, (runqueue_wait() - w0) if w0 is not None else 0.0


def _calibrate(run, min_time, max_wait, retries):
    """The calls per batch that last `min_time`. A batch that waited for a CPU is slow for a reason
    of another process's, so it is run again (up to `retries` times) instead of being taken as
    the size: a stalled calibration would otherwise leave batches far shorter than min_time."""
    number, disturbed = 1, 0
    while True:
        dt, waited = _batch(run, number)
        if waited > max_wait * dt and disturbed < retries:
            disturbed += 1
            time.sleep(min(0.05 * disturbed, 0.5))
            continue
        if dt >= min_time or number >= 1 << 20:
            return number
        number *= 2


def measure(run, number=None, repeat=5, warmup=1, min_time=0.01):
    """Median seconds per call of `run()` (see benchmark)."""
    return benchmark(run, number, repeat, warmup, min_time).median
