"""One way of timing a call, shared by kernels, networks and the experiments' baselines."""
import statistics
import time


def measure(run, number=None, repeat=5, warmup=1, min_time=0.01):
    """Median seconds per call of `run()` over `repeat` batches of `number` calls, after `warmup`
    calls. With number=None, a batch is grown until it lasts at least `min_time` seconds."""
    for _ in range(warmup):
        run()
    if number is None:
        number = 1
        while True:
            t0 = time.perf_counter()
            for _ in range(number):
                run()
            if time.perf_counter() - t0 >= min_time or number >= 1 << 20:
                break
            number *= 2
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            run()
        times.append((time.perf_counter() - t0) / number)
    return statistics.median(times)
