"""This machine's measured fp32 peak (an FMA loop on every core) and memory bandwidth (a STREAM
triad), the yardsticks the other experiments report their GFLOP/s against.

    python -m experiments.peak [--target avx2] [--out results/peak]

The FMA loop keeps ACCUMULATORS independent vector accumulators per thread (enough to hide the
FMA latency on both ports of current x86 cores), at the target's vector width; the triad streams
three arrays much larger than the last-level cache. Both are compiled by alt's own compiler path
for the target, so the peak is the one alt's kernels can reach.
"""
import argparse
import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from alt.target import Target, resolve
from alt.timing import benchmark
from search.cli import output

ACCUMULATORS = 10  # fits 16 vector registers with room for the operands
ITERATIONS = 1 << 16

FMA_SOURCE = """
#include <omp.h>
typedef float vec __attribute__((vector_size({vb})));
static float chain(int iters, float seed) {{
  vec a, b;
  for (int i = 0; i < {lanes}; ++i) {{ a[i] = 0.999f; b[i] = seed * 1e-3f; }}
  {declare}
  for (int it = 0; it < iters; ++it) {{
    {fma}
    __asm__ volatile("" : {keep});  /* the accumulators stay in registers and every FMA is kept */
  }}
  vec s = {sum};
  float t = 0;
  for (int i = 0; i < {lanes}; ++i) t += s[i];
  return t;
}}
int alt_fma(float* out, int iters, int threads) {{
  #pragma omp parallel num_threads(threads)
  {{ out[omp_get_thread_num()] = chain(iters, (float)omp_get_thread_num()); }}
  return 0;
}}
int alt_triad(float* a, const float* b, const float* c, long n, int threads) {{
  #pragma omp parallel for simd num_threads(threads) schedule(static)
  for (long i = 0; i < n; ++i) a[i] = b[i] + 3.0f * c[i];
  return 0;
}}
"""


def _library(target):
    from codegen import compile_c
    from codegen.program import load_library
    acc = [f"acc{j}" for j in range(ACCUMULATORS)]
    src = FMA_SOURCE.format(vb=target.vector_bytes, lanes=target.lanes(),
                            declare=" ".join(f"vec {a} = b + {j}.0f;" for j, a in enumerate(acc)),
                            fma=" ".join(f"{a} = {a} * a + b;" for a in acc),
                            keep=", ".join(f'"+v"({a})' for a in acc), sum=" + ".join(acc))
    path = compile_c(src, target, what="the peak benchmark")
    fma = load_library(str(path), "alt_fma", signature="int alt_fma(float* out, int iters, int threads)")
    triad = load_library(str(path), "alt_triad",
                         signature="int alt_triad(float* a, const float* b, const float* c, long n, int threads)")
    return fma + triad


def fma_gflops(target, threads):
    """Measured fp32 GFLOP/s of independent FMAs on `threads` threads (the best repeat)."""
    ffi, lib, _, _ = _library(target)
    out = np.zeros(max(threads, 1) * 16, np.float32)
    ptr = ffi.cast("float*", out.ctypes.data)
    t = benchmark(lambda: lib.alt_fma(ptr, ITERATIONS, threads), repeat=7, min_time=0.05)
    return 2.0 * target.lanes() * ACCUMULATORS * ITERATIONS * threads / t.min / 1e9


def triad_gbs(target, threads):
    """Measured STREAM-triad GB/s (a = b + s * c; 12 bytes moved an element) on `threads` threads."""
    _, _, ffi, lib = _library(target)
    n = max(4 * target.l3, 64 << 20) // 4
    n = min(n, 128 << 20)  # at most 512 MiB an array
    a, b, c = (np.full(n, 1.0, np.float32) for _ in range(3))
    pa, pb, pc = (ffi.cast("float*", x.ctypes.data) for x in (a, b, c))
    t = benchmark(lambda: lib.alt_triad(pa, pb, pc, n, threads), repeat=5, min_time=0.2)
    return 12.0 * n / t.min / 1e9


def measure(target=None):
    target = resolve(target)
    return {"cpu": target.describe(), "target": str(target),
            "fma_gflops": fma_gflops(target, target.cores), "fma_gflops_1_thread": fma_gflops(target, 1),
            "triad_gbs": triad_gbs(target, target.cores)}


@lru_cache(maxsize=None)
def peak_gflops(target=None):
    """The measured fp32 FMA peak of `target` on all its cores, GFLOP/s (measured once a process)."""
    return fma_gflops(resolve(target), resolve(target).cores)


def share(gflops, target=None):
    """`gflops` as a percentage of the measured peak."""
    return 100.0 * gflops / peak_gflops(target)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--target", default=None, help="alt target (default: $ALT_TARGET, else the host)")
    p.add_argument("--out", type=output, default="results/peak")
    args = p.parse_args(argv)
    target = Target.parse(args.target) if args.target else resolve(None)
    r = measure(target)
    print(f"CPU: {r['cpu']}")
    print(f"fp32 FMA peak: {r['fma_gflops']:.1f} GFLOP/s on {target.cores} threads "
          f"({r['fma_gflops_1_thread']:.1f} on one)")
    print(f"memory bandwidth (STREAM triad): {r['triad_gbs']:.1f} GB/s")
    out = Path(args.out).with_suffix(".json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(r, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
