"""GFLOP/s of hand-scheduled float32 GEMMs built through alt next to numpy's, in one run.

    python -m experiments.gemm_bench [--n 1024] [--tiles 8x64,4x32] [--rounds 3] [--target avx2]
                                     [--log gmm.jsonl]

Contenders: alt's default schedule; the target's register tile (alt.ops.matmul_tiled); the best
hand schedule for the target (alt.ops.matmul_packed: B stored as column panels, a layout chosen
at compile time like a weight's, panels outermost); packed variants with the --tiles given; the
best record of a tuning log (`alt tune GMM-3 --log gmm.jsonl`) if --log is given; numpy. Every
output is checked against numpy first. The contenders are timed in turn, `rounds` times, and the
ratios to numpy are quoted with their min and median over the rounds; GFLOP/s also as a share of
this machine's measured FMA peak (experiments.peak).
"""
import argparse
import statistics

import numpy as np

import alt
from alt.target import Target, resolve
from experiments.peak import peak_gflops
from experiments.timing import check_close, time_callable, time_kernel
from search.cli import whole


def _contenders(n, tiles, log):
    def gemm():
        A, B = alt.placeholder((n, n), name="A"), alt.placeholder((n, n), name="B")
        return A, B, alt.ops.matmul(A, B)

    out = []
    A, B, C = gemm()
    out.append(("default", alt.build(alt.ops.default_schedule(C), [A, B, C])))
    A, B, C = gemm()
    rows, cols = alt.ops.hand.gemm_tile()
    out.append((f"tiled {rows}x{cols}", alt.build(alt.ops.matmul_tiled(alt.create_schedule(C), C), [A, B, C])))
    A, B, C = gemm()
    out.append((f"packed {rows}x{cols} (best hand)", alt.build(alt.ops.matmul_packed(alt.create_schedule(C), C),
                                                               [A, B, C])))
    for t in tiles:
        ti, tj = (int(x) for x in t.split("x"))
        A, B, C = gemm()
        s = alt.ops.matmul_tiled(alt.create_schedule(C), C, ti, tj, pack_b=True, order="ji", tile_k=256)
        out.append((f"packed {t}", alt.build(s, [A, B, C])))
    if log:
        from search.tune import apply_best
        k = apply_best(log, alt.ops.Workload("GMM", f"GMM-{n}x{n}x{n}", (n, n, n))) or \
            apply_best(log, "GMM-3" if n == 1024 else f"GMM-{n}")
        if k is not None:
            out.append(("tuned (log)", k))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=whole(1), default=1024)
    p.add_argument("--tiles", default="", help="more packed register tiles (rows x columns) to try, e.g. 8x32,4x64")
    p.add_argument("--repeat", type=whole(1), default=5, help="timed repeats per contender and round")
    p.add_argument("--rounds", type=whole(1), default=3, help="times every contender is timed, in turn")
    p.add_argument("--target", default=None, help="alt target (default: $ALT_TARGET, else the host)")
    p.add_argument("--log", default=None, help="a tuning log whose best GEMM record joins the contenders")
    args = p.parse_args(argv)
    target = Target.parse(args.target) if args.target else resolve(None)
    n = args.n
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
    want = a @ b
    flops = 2.0 * n ** 3
    with target:
        kernels = _contenders(n, [t for t in args.tiles.split(",") if t], args.log)
    runs = []
    for name, k in kernels:
        bp = k.pack(k.args[1], b)
        c = np.empty((n, n), np.float32)
        k(a, bp, c)
        check_close(c, want, f"alt gemm {name}")
        runs.append((name, k, bp, c))
    times = {name: [] for name, *_ in runs}
    times["numpy"] = []
    for _ in range(args.rounds):
        times["numpy"].append(time_callable(lambda: a @ b, repeat=args.repeat))
        for name, k, bp, c in runs:
            times[name].append(time_kernel(k, a, bp, c, repeat=args.repeat))
    peak = peak_gflops(target)
    print(f"GEMM {n}x{n}x{n} float32 on {target.describe()}")
    print(f"measured FMA peak {peak:.0f} GFLOP/s; {args.rounds} rounds of {args.repeat} repeats; ratio to numpy of "
          "the same round")
    print(f"{'schedule':32} {'GFLOP/s':>8} {'% peak':>7} {'vs numpy min':>12} {'median':>7}")
    for name in [r[0] for r in runs] + ["numpy"]:
        g = flops / min(times[name]) / 1e9
        ratios = [tn / t for t, tn in zip(times[name], times["numpy"])]
        print(f"{name:32} {g:8.1f} {100 * g / peak:6.0f}% {min(ratios):12.2f} {statistics.median(ratios):7.2f}")


if __name__ == "__main__":
    main()
