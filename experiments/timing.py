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
SLOW_STREAK = 3  # waits in a row that found the machine still slow: it is slow for minutes
_state = {"inside": False, "slow_streak": 0}  # per process: the experiments time from one thread


def torch_threads(torch):
    """PyTorch on as many threads as the target in effect has cores (alt's kernels use as many)."""
    from alt.target import current
    torch.set_num_threads(current().cores)


def settle(wait=SPELL_WAIT):
    """Let the worker threads of the previous contender (numpy's OpenBLAS, OpenMP) go to sleep,
    so that they do not spin on the cores the next measurement needs; then wait, up to `wait`
    seconds, for the machine to run at its best speed (alt.timing.at_speed). Once the machine has
    stayed slow through SLOW_STREAK waits in a row, it is slow for minutes, not a spell: timings
    are taken as it runs until it is seen at speed again (as the tuner does, search.measure)."""
    time.sleep(SETTLE)
    slow = at_speed(0.0 if _state["slow_streak"] >= SLOW_STREAK else wait)
    _state["slow_streak"] = 0 if slow <= MAX_SLOW else _state["slow_streak"] + 1
    return slow


def steady(timer, attempts=ATTEMPTS, wait=SPELL_WAIT):
    """Seconds from `timer()`, taken after settle(); one after which the machine still ran slower
    than its best (the canary) is taken again, `attempts` times in all, and the fastest kept. A
    timer that calls steady itself (time_callable inside a contender's timer) is not retaken twice."""
    if _state["inside"]:
        return timer()
    best = float("inf")
    _state["inside"] = True
    try:
        for _ in range(attempts):
            settle(wait)
            best = min(best, timer())
            # slow for minutes (settle gave up waiting): retaking would only cost time
            if _state["slow_streak"] >= SLOW_STREAK or canary().slowdown() <= MAX_SLOW:
                break
    finally:
        _state["inside"] = False
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
