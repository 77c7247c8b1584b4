"""Timing of Python callables (numpy, torch) measured the same way as Kernel.time, and every
contender's timing in the experiments taken outside the machine's slow spells.

A cloud VM's host can slow its CPUs for seconds to minutes (alt.timing: the canary). In one run on
a 2-core AMD EPYC VM, the same MobileNet-V2 network timed 4.4 to 11.5 ms within a minute; a
contender timed in such a spell looked 2x slower than its rivals timed before it. So each timing
waits (a bounded time) for the machine to run at speed, and one after which the canary reads slow
is taken again, the fastest kept: a spell only ever slows a timing.
"""
import time

from alt.timing import MAX_SLOW, at_speed, canary, measure

SETTLE = 0.3  # seconds: longer than OpenBLAS's and libgomp's idle spin-wait
SPELL_WAIT = 10.0  # seconds a timing waits at most for the machine to leave a slow spell
ATTEMPTS = 3  # timings taken at most, while the canary says the machine slowed during them


def torch_threads(torch):
    """PyTorch on as many threads as the target in effect has cores (alt's kernels use as many)."""
    from alt.target import current
    torch.set_num_threads(current().cores)


def settle(wait=SPELL_WAIT):
    """Let the worker threads of the previous contender (numpy's OpenBLAS, OpenMP) go to sleep,
    so that they do not spin on the cores the next measurement needs; then wait, up to `wait`
    seconds, for the machine to run at its best speed (alt.timing.at_speed)."""
    time.sleep(SETTLE)
    return at_speed(wait)


def steady(timer, attempts=ATTEMPTS, wait=SPELL_WAIT):
    """Seconds from `timer()`, taken after settle(); one after which the machine still ran slower
    than its best (the canary) is taken again, `attempts` times in all, and the fastest kept."""
    best = float("inf")
    for _ in range(attempts):
        settle(wait)
        best = min(best, timer())
        if canary().slowdown() <= MAX_SLOW:
            break
    return best


def time_kernel(kernel, *arrays, repeat=5):
    """Kernel.time after the previous contender's threads went idle, outside slow spells (steady)."""
    return steady(lambda: kernel.time(*arrays, repeat=repeat))


def time_callable(fn, repeat=5, warmup=1, min_time=0.01):
    """Median seconds per call of a Python callable, after the other thread pools went idle,
    outside slow spells (steady)."""
    return steady(lambda: measure(fn, None, repeat, warmup, min_time))


def check_close(got, want, what, rtol=1e-4):
    """Raise if `got` differs from `want` by more than rtol of want's largest magnitude."""
    import numpy as np
    err = float(np.max(np.abs(got - want)) / max(1e-30, float(np.max(np.abs(want)))))
    if not err <= rtol:
        raise AssertionError(f"{what}: relative error {err:.2e} exceeds {rtol:.0e}")
    return err
