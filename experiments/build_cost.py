"""Where the time of alt.build goes: lowering and rendering (Python) vs gcc, with a cold cache.

    python -m experiments.build_cost
"""
import os
import statistics
import tempfile
import time

import alt
from codegen import CProgram, CRenderer, compile_c


def workloads():
    A, B = alt.placeholder((1024, 1024), name="A"), alt.placeholder((1024, 1024), name="B")
    C = alt.ops.matmul(A, B)
    yield "GEMM 1024^3 tiled", (lambda: alt.ops.matmul_tiled(alt.create_schedule(C), C)), [A, B, C]
    X, W = alt.placeholder((1, 64, 56, 56), name="X"), alt.placeholder((64, 64, 3, 3), name="W")
    Y = alt.ops.conv2d_nchw(X, W, padding=1)
    yield "conv2d 64x56x56 tiled", (lambda: alt.ops.conv2d_tiled(alt.create_schedule(Y), Y)), [X, W, Y]
    yield "conv2d 64x56x56 default", (lambda: alt.ops.default_schedule(Y)), [X, W, Y]


def main():
    with tempfile.TemporaryDirectory() as cache:
        os.environ["ALT_CACHE_DIR"] = cache
        print(f"{'workload':26} {'schedule':>9} {'lower':>7} {'render':>7} {'gcc':>7} {'load':>7}  (ms, median of 5)")
        for name, make, args in workloads():
            rows = []
            for rep in range(5):
                t0 = time.perf_counter()
                s = make()
                t1 = time.perf_counter()
                func = alt.lower(s, args)
                t2 = time.perf_counter()
                src, fname = CRenderer().render(func)
                src += f"/* {rep} */\n"  # a new source each time: measure gcc, not the cache
                t3 = time.perf_counter()
                path = compile_c(src)
                t4 = time.perf_counter()
                CProgram(path, fname, func.args, [True] * len(func.args))
                t5 = time.perf_counter()
                rows.append((t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4))
            med = [statistics.median(c) * 1e3 for c in zip(*rows)]
            print(f"{name:26} " + " ".join(f"{m:7.1f}" for m in med))


if __name__ == "__main__":
    main()
