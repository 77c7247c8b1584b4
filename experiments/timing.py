"""Timing of Python callables (numpy, torch) measured the same way as Kernel.time."""
import time

from alt.timing import measure

SETTLE = 0.3  # seconds: longer than OpenBLAS's and libgomp's idle spin-wait


def torch_threads(torch):
    """PyTorch on as many threads as the target in effect has cores (alt's kernels use as many)."""
    from alt.target import current
    torch.set_num_threads(current().cores)


def settle():
    """Let the worker threads of the previous contender (numpy's OpenBLAS, OpenMP) go to sleep,
    so that they do not spin on the cores the next measurement needs."""
    time.sleep(SETTLE)


def time_kernel(kernel, *arrays, repeat=5):
    """Kernel.time after the previous contender's threads went idle."""
    settle()
    return kernel.time(*arrays, repeat=repeat)


def time_callable(fn, repeat=5, warmup=1, min_time=0.01):
    """Median seconds per call of a Python callable, after the other thread pools went idle."""
    settle()
    return measure(fn, None, repeat, warmup, min_time)


def check_close(got, want, what, rtol=1e-4):
    """Raise if `got` differs from `want` by more than rtol of want's largest magnitude."""
    import numpy as np
    err = float(np.max(np.abs(got - want)) / max(1e-30, float(np.max(np.abs(want)))))
    if not err <= rtol:
        raise AssertionError(f"{what}: relative error {err:.2e} exceeds {rtol:.0e}")
    return err
