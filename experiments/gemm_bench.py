"""GFLOP/s of a hand-scheduled float32 GEMM built through alt next to numpy's, in one run.

    python -m experiments.gemm_bench [--n 1024] [--tiles 8x64,4x64,8x32]
"""
import argparse

import numpy as np

import alt
from experiments.timing import check_close, time_callable, time_kernel


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=1024)
    p.add_argument("--tiles", default="8x64,6x64,4x64,8x32", help="register tiles (rows x columns) to try")
    p.add_argument("--repeat", type=int, default=7)
    args = p.parse_args(argv)
    n = args.n
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
    want = a @ b
    flops = 2.0 * n ** 3
    rows = []
    for tile in ["default"] + args.tiles.split(","):
        A, B = alt.placeholder((n, n), name="A"), alt.placeholder((n, n), name="B")
        C = alt.ops.matmul(A, B)
        if tile == "default":
            s = alt.ops.default_schedule(C)
        else:
            ti, tj = (int(x) for x in tile.split("x"))
            s = alt.ops.matmul_tiled(alt.create_schedule(C), C, ti, tj)
        f = alt.build(s, [A, B, C])
        c = np.empty((n, n), np.float32)
        f(a, b, c)
        check_close(c, want, f"alt gemm {tile}")
        rows.append((tile, flops / time_kernel(f, a, b, c, repeat=args.repeat) / 1e9))
    g_np = flops / time_callable(lambda: a @ b, repeat=args.repeat) / 1e9
    print(f"GEMM {n}x{n}x{n} float32, {args.repeat} repeats, median")
    print(f"{'schedule':12} {'GFLOP/s':>8} {'vs numpy':>8}")
    for tile, g in rows:
        print(f"{'alt ' + tile:12} {g:8.1f} {g / g_np:8.2f}")
    print(f"{'numpy':12} {g_np:8.1f} {1.0:8.2f}")


if __name__ == "__main__":
    main()
