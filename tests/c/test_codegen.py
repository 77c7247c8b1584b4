"""C-backend tier: what the renderer emits, what gcc makes of it, caching, timing."""
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

import alt
from codegen import CRenderer, compile_c
from conftest import make_conv, make_gemm

GOLDEN = Path(__file__).parent / "golden"


def tiled_gemm():
    args, C = make_gemm(64, 128, 32)
    return alt.ops.matmul_tiled(alt.create_schedule(C), C, 4, 32), args


def test_source_has_openmp_simd_restrict_and_constant_extents():
    s, args = tiled_gemm()
    f = alt.build(s, args)
    src = f.source
    assert "#pragma omp parallel for" in src and "#pragma omp simd" in src and "#pragma GCC unroll 4" in src
    assert "const float* restrict A_" in src and "float* restrict C_" in src
    assert re.search(r"for \(int32_t k_ = 0; k_ < 32; \+\+k_\)", src)
    assert "float C_local_[128] __attribute__((aligned(64)));" in src


@pytest.mark.skipif(shutil.which("objdump") is None, reason="objdump not installed")
def test_vectorized_kernel_uses_the_widest_registers_this_cpu_has():
    target = alt.target.current()  # the host's CPU, or what ALT_TARGET names (AVX2 code on an AVX-512 host)
    if target.isa == "avx512":
        reg = "zmm"  # with -mprefer-vector-width=512
    elif target.isa == "avx2" and target.fma:
        reg = "ymm"  # e.g. AMD Zen 3: no AVX-512
    else:
        pytest.skip(f"target {target} has neither AVX-512 nor AVX2+FMA code to look for")
    s, args = tiled_gemm()
    f = alt.build(s, args)
    asm = subprocess.run(["objdump", "-d", f.program.path], capture_output=True, text=True).stdout
    assert re.search(rf"vfmadd\w+ps\s+.*%{reg}", asm), f"expected {reg} FMA instructions in the tiled GEMM"


def test_default_schedule_is_parallel_and_vectorized():
    args, C = make_gemm(64, 64, 64)
    s = alt.ops.default_schedule(C)
    text = str(alt.lower(s, args))
    rows, vectors = alt.target.current().register_tile()  # the target's: 4 x 4 zmm on AVX-512, 4 x 2 ymm on AVX2
    cols = vectors * alt.target.current().lanes()
    assert "parallel i.outer" in text and f"vectorize j.c in 0..{cols}:" in text
    assert f"allocate C.local: float32[{rows}, {cols}] (stack)" in text  # a register tile, not a triple loop
    args, Y = make_conv()
    text = str(alt.lower(alt.ops.default_schedule(Y), args))
    assert text.count("parallel ") == 2 and "vectorize x.c" in text


def test_build_cache_by_source_hash(tmp_path, monkeypatch):
    monkeypatch.setenv("ALT_CACHE_DIR", str(tmp_path))
    src = "int alt_one(void) { return 0; }\n"
    t0 = time.perf_counter()
    p1 = compile_c(src)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    p2 = compile_c(src)
    assert p1 == p2 and p1.exists() and time.perf_counter() - t0 < first
    assert (tmp_path / "c" / (p1.stem + ".c")).read_text() == src
    assert compile_c(src + "\n") != p1


def test_compile_error_is_a_build_error(tmp_path, monkeypatch):
    monkeypatch.setenv("ALT_CACHE_DIR", str(tmp_path))
    with pytest.raises(alt.BuildError, match="rejected the generated C"):
        compile_c("int broken( {")


def test_identifiers_are_sanitized():
    X = alt.placeholder((4,), name='x"; system("rm -rf /"); //')
    Y = alt.compute((4,), lambda i: X[i] + 1, name="1 bad name")
    f = alt.build(alt.create_schedule(Y), [X, Y])
    assert "system" in f.source and '"' not in f.source.split("int alt_main")[1]
    x = np.arange(4, dtype="f4")
    y = np.zeros(4, "f4")
    f(x, y)
    np.testing.assert_array_equal(y, x + 1)


def test_time_helper_returns_seconds_per_call():
    s, args = tiled_gemm()
    f = alt.build(s, args)
    a, b, c = np.ones((64, 32), "f4"), np.ones((32, 128), "f4"), np.zeros((64, 128), "f4")
    t = f.time(a, b, c, repeat=3)
    assert 1e-7 < t < 0.1
    t1 = f.time(a, b, c, number=5, repeat=2, warmup=0)
    assert t1 > 0


def test_root_intermediates_are_temporaries_the_program_passes():
    args, Y = make_conv()
    s = alt.create_schedule(Y)
    f = alt.build(s, args)
    signature = next(line for line in f.source.splitlines() if line.startswith("int alt_main"))
    assert [b.name for b in f.program.temps] == ["conv.pad"] and "conv_pad_" in signature
    assert "aligned_alloc" not in f.source and "free(" not in f.source


@pytest.mark.parametrize("name,make", [("gemm_tiled", tiled_gemm),
                                       ("conv_default", lambda: (alt.ops.default_schedule(make_conv()[1]),
                                                                 None))])
def test_golden_sources(name, make):
    """Generated C for fixed (workload, schedule) pairs on a fixed target (AVX-512, whatever the
    host), so the sources do not depend on the machine; ALT_UPDATE_GOLDEN=1 rewrites them."""
    with alt.Target.parse("avx512") as target:
        s, args = make()
        if args is None:
            args = s.inputs + s.outputs
        source, _ = CRenderer(target).render(alt.lower(s, args), temps_as_args=True)  # as alt.build renders
    f = alt.build(s, args, target)  # compiles on any host; runs only where AVX-512 is
    path = GOLDEN / f"{name}.c"
    if os.environ.get("ALT_UPDATE_GOLDEN"):
        path.write_text(source)
    assert source == path.read_text(), f"generated C for {name} changed; review and rerun with ALT_UPDATE_GOLDEN=1"
    assert f.source == source


def test_kernel_temporaries_are_kept_per_thread_and_concurrent_calls_stay_right():
    """A kernel's temporaries (here a padding stage at root) are arguments of the C function that
    the program keeps between calls, one set per calling thread: no allocation in the kernel, and
    two threads calling at once both get right answers."""
    from concurrent.futures import ThreadPoolExecutor
    X = alt.placeholder((1, 8, 20, 20), name="X")
    W = alt.placeholder((8, 8, 3, 3), name="W")
    Y = alt.ops.conv2d_nchw(X, W, padding=1)
    f = alt.build(alt.ops.default_schedule(Y), [X, W, Y])
    assert [b.name for b in f.program.temps] and "aligned_alloc" not in f.source
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((1, 8, 20, 20)).astype("f4") for _ in range(4)]
    w = rng.standard_normal((8, 8, 3, 3)).astype("f4")

    def run(x):
        y = np.empty((1, 8, 20, 20), "f4")
        for _ in range(20):
            f(x, w, y)
        return y

    with ThreadPoolExecutor(4) as ex:
        outs = list(ex.map(run, xs))
    for x, y in zip(xs, outs):
        np.testing.assert_allclose(y, alt.ops.reference.conv2d_nchw(x, w, padding=1), rtol=1e-4, atol=1e-4)
