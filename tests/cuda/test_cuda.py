"""The CUDA target: bind, the CUDA renderer, nvcc, and the grid emulated on the CPU.

Tiers: the emulation tests need gcc only and always run (they check the index math of the very
lowered function CUDA renders against the interpreter); `cuda` tests compile the CUDA source with
nvcc; `gpu` tests run on a GPU through pycuda.
"""
import numpy as np
import pytest

import alt
from alt.ops import Workload, suite
from alt.ops.suite import SMALL_SHAPES
from alt.testing import random_inputs
from codegen.cuda_render import CUDARenderer

CUDA = alt.Target.parse("cuda -arch=sm_80")


def _check_emulated(kernel, inputs, out, seed=3, rtol=1e-4):
    feed = random_inputs(inputs, seed=seed)
    arrays = [kernel.pack(t, feed[t]) for t in inputs]
    got = kernel.pack(out, np.zeros(out.shape, np.float32))
    kernel.emulate(*arrays, got)
    want = alt.evaluate(out, feed)
    np.testing.assert_allclose(kernel.unpack(out, got), want, rtol=rtol, atol=1e-5)
    return feed, want


def _default(op, params=None):
    w = Workload(op, f"{op}-small", params or SMALL_SHAPES[op])
    inputs, out = w.build()
    return inputs, out, alt.ops.gpu_schedule(out, CUDA)


def _tiled_gemm(m=37, n=45, k=23, tile=(4, 16)):
    """A tuned-style GPU GEMM: 2-d blocks and threads, each thread a 2x1 register tile."""
    A, B = alt.placeholder((m, k), name="A"), alt.placeholder((k, n), name="B")
    C = alt.ops.matmul(A, B)
    s = alt.create_schedule(C)
    local = s.cache_write(C)
    i, j = s[C].axis
    bi, ti = s[C].split(i, factor=tile[0] * 2)
    ti, ri = s[C].split(ti, factor=2)
    bj, tj = s[C].split(j, factor=tile[1])
    s[C].reorder(bi, bj, ti, tj, ri)
    for loop, tag in ((bi, "blockIdx.y"), (bj, "blockIdx.x"), (ti, "threadIdx.y"), (tj, "threadIdx.x")):
        s[C].bind(loop, tag)
    s[local].compute_at(s[C], tj)
    s[local].unroll(s[local].axis[0])
    return [A, B], C, s


def _shared_gemm(m=64, n=64, k=48, ty=8, tx=8, r=2, kt=8, target=None):
    """TVM's GPU GEMM: 2-d blocks of ty x tx threads, each r rows in registers, A and B staged in
    shared memory kt columns at a time, fetched by all the block's threads together."""
    A, B = alt.placeholder((m, k), name="A"), alt.placeholder((k, n), name="B")
    C = alt.ops.matmul(A, B)
    s = alt.create_schedule(C)
    CC = s.cache_write(C)
    AA, BB = s.cache_read(A, "shared", [CC]), s.cache_read(B, "shared", [CC])
    i, j = s[C].axis
    bi, ii = s[C].split(i, factor=ty * r)
    ti, ri = s[C].split(ii, factor=r)
    bj, tj = s[C].split(j, factor=tx)
    s[C].reorder(bi, bj, ti, tj, ri)
    for loop, tag in ((bi, "blockIdx.y"), (bj, "blockIdx.x"), (ti, "threadIdx.y"), (tj, "threadIdx.x")):
        s[C].bind(loop, tag)
    s[CC].compute_at(s[C], tj)
    ci, cj = s[CC].axis
    ko, ki = s[CC].split(s[CC].op.reduce_axis[0], factor=kt)
    s[CC].reorder(ko, ki, ci, cj)
    for X in (AA, BB):
        s[X].compute_at(s[CC], ko)
        fo, fi = s[X].split(s[X].fuse(*s[X].axis), factor=tx * ty)
        fy, fx = s[X].split(fi, factor=tx)
        s[X].bind(fy, "threadIdx.y")
        s[X].bind(fx, "threadIdx.x")
    return [A, B], C, s


# --- emulation: every suite operator under the default GPU schedule ----------------------------------

@pytest.mark.parametrize("op", sorted(SMALL_SHAPES))
def test_default_gpu_schedule_emulated_matches_the_interpreter(op):
    inputs, out, s = _default(op)
    k = alt.build(s, inputs + [out], target=CUDA)
    assert k.launches and all(l.threads <= CUDA.threads for l in k.launches)
    assert "__global__" in k.source and "threadIdx.x" in k.source and "#pragma omp" not in k.source
    _check_emulated(k, inputs, out)


def test_a_tuned_style_gemm_with_2d_blocks_and_register_tiles_is_emulated_exactly():
    inputs, C, s = _tiled_gemm()
    k = alt.build(s, inputs + [C], target=CUDA)
    (launch,) = k.launches
    assert launch.grid == (3, 5, 1) and launch.block == (16, 4, 1)  # ceil(45/16), ceil(37/8); 16 x 4 threads
    assert "threadIdx.y" in k.source and "blockIdx.y" in k.source
    _check_emulated(k, inputs, C)


def test_a_re_laid_conv_with_its_padding_stage_is_two_launches():
    X = alt.placeholder((1, 16, 9, 9), name="X")
    W = alt.placeholder((16, 16, 3, 3), name="W")
    Y = alt.ops.conv2d_nchw(X, W, stride=1, padding=1)
    s = alt.create_schedule(Y)
    s.layout(Y).split(1, 8).reorder(0, 1, 3, 4, 2)  # NCHW8c
    s.layout(W).split(0, 8).reorder(0, 2, 3, 4, 1)
    alt.ops.gpu_schedule(s, CUDA)
    k = alt.build(s, [X, W, Y], target=CUDA)
    assert len(k.launches) == 2  # the padding stage, then the convolution
    _check_emulated(k, [X, W], Y)


# --- shared memory and barriers -------------------------------------------------------------------

def test_a_shared_memory_gemm_meets_at_barriers_and_the_emulated_block_agrees():
    inputs, C, s = _shared_gemm()
    func = alt.lower(s, inputs + [C])
    text = str(func)
    assert "A.shared: float32[16, 8] (shared)" in text and "B.shared: float32[8, 8] (shared)" in text  # a block's tile
    assert text.count("barrier") == 3  # before A's fetch, between the fetches, after B's
    k = alt.build(s, inputs + [C], target=CUDA)
    assert k.launches[0].grid == (8, 4, 1) and k.launches[0].block == (8, 8, 1)
    assert k.source.count("__syncthreads();") == 3 and "__shared__ float A_shared_[128] __align__(16);" in k.source
    _check_emulated(k, inputs, C)


def test_a_shared_memory_schedule_replays_from_its_json():
    inputs, C, s = _shared_gemm()
    A, B = (alt.placeholder(t.shape, name=t.name) for t in inputs)
    C2 = alt.ops.matmul(A, B)
    again = alt.Schedule.from_json(s.to_json(), [C2])
    assert '"step": "cacheread"' in s.to_json()
    assert CUDARenderer(CUDA).render(alt.lower(again, [A, B, C2]))[0] == \
        CUDARenderer(CUDA).render(alt.lower(s, inputs + [C]))[0]


def test_golden_cuda_source_of_the_shared_memory_gemm():
    """The CUDA of a fixed (workload, schedule) pair; ALT_UPDATE_GOLDEN=1 rewrites it."""
    import os
    from pathlib import Path
    inputs, C, s = _shared_gemm()
    source, _ = CUDARenderer(CUDA).render(alt.lower(s, inputs + [C]))
    path = Path(__file__).parent / "golden" / "gemm_shared.cu"
    if os.environ.get("ALT_UPDATE_GOLDEN"):
        path.write_text(source)
    assert source == path.read_text(), "generated CUDA changed; review and rerun with ALT_UPDATE_GOLDEN=1"


def test_the_emulation_splits_a_block_at_its_barriers():
    """Fetch without the barriers' effect: with the block's threads run one after another the
    copy would be read before the other threads wrote it; the emulation runs them as a team."""
    from codegen.emulate import emulation_program
    inputs, C, s = _shared_gemm(32, 32, 32, ty=4, tx=8, r=2, kt=8)
    prog, source = emulation_program(alt.lower(s, inputs + [C]), CUDA)
    assert "#pragma omp parallel num_threads(32)" in source and source.count("#pragma omp barrier") == 3
    k = alt.build(s, inputs + [C], target=CUDA)
    _check_emulated(k, inputs, C)


@pytest.mark.parametrize("change,match", [
    (dict(n=60), "a barrier under the guard of the non-dividing loop"),
    (dict(target="cuda -arch=sm_80 -shared-bytes=256"), "bytes of shared memory a block .* allows 256"),
])
def test_shared_memory_schedules_cuda_cannot_run_are_refused(change, match):
    target = alt.Target.parse(change.pop("target", "cuda -arch=sm_80"))
    inputs, C, s = _shared_gemm(**change)
    with pytest.raises(alt.BuildError, match=match):
        alt.build(s, inputs + [C], target=target)


def test_cache_read_errors_name_the_tensor_and_what_is_allowed():
    args, C, s = _gemm_stage()
    A, B, _ = args
    with pytest.raises(alt.ScheduleError, match="scope 'local' is not supported; use 'shared'"):
        s.cache_read(A, "local", [C])
    other = alt.placeholder((3,), name="Z")
    with pytest.raises(alt.ScheduleError, match="schedule has no tensor named 'Z'"):
        s.cache_read(other, "shared", [C])
    AA = s.cache_read(A, "shared", [C])
    with pytest.raises(alt.ScheduleError, match=r"stage 'C' does not read it; its inputs are \[A.shared, B\]"):
        s.cache_read(A, "shared", [C])
    s[C].bind(s[C].axis[0], "blockIdx.x")
    with pytest.raises(alt.BuildError, match="shared-memory copy computed at root"):
        alt.build(s, args, target=CUDA)
    assert AA.name == "A.shared"


# --- nvcc: the CUDA source of every suite operator and ResNet layer compiles ---------------------

@pytest.mark.cuda
@pytest.mark.parametrize("op", sorted(SMALL_SHAPES))
def test_every_suite_operator_compiles_with_nvcc(op):
    inputs, out, s = _default(op)
    k = alt.build(s, inputs + [out], target=CUDA)
    data = k.cubin.read_bytes()
    assert data[:4] == b"\x7fELF"  # a cubin is an ELF image
    for launch in k.launches:
        assert launch.fname.encode() in data


@pytest.mark.cuda
@pytest.mark.parametrize("w", [w for w in suite(resnet=True) if w.name.startswith("R18")][:6], ids=lambda w: w.name)
def test_resnet18_layers_at_full_size_compile_with_nvcc_for_two_architectures(w):
    inputs, out = w.build()
    for arch in ("sm_75", "sm_90"):
        t = alt.Target.parse(f"cuda -arch={arch}")
        k = alt.build(alt.ops.gpu_schedule(out, t), inputs + [out], target=t)
        assert k.cubin.read_bytes()[:4] == b"\x7fELF"


@pytest.mark.cuda
def test_the_tuned_style_gemm_compiles_and_nvcc_errors_quote_the_line():
    inputs, C, s = _tiled_gemm(64, 64, 64)
    k = alt.build(s, inputs + [C], target=CUDA)
    assert k.cubin is not None
    from codegen.compiler import CompileError
    from codegen.nvcc import compile_cuda
    with pytest.raises(CompileError, match="(?s)nvcc rejected the generated CUDA of broken.*line 2: this is not cuda"):
        compile_cuda('extern "C" __global__ void f() {\n  this is not cuda;\n}\n', CUDA, what="broken")


@pytest.mark.cuda
@pytest.mark.parametrize("shape", [(64, 64, 48, 8, 8, 2, 8), (128, 128, 128, 16, 16, 4, 16)])
def test_shared_memory_gemms_compile_with_nvcc(shape):
    m, n, k, ty, tx, r, kt = shape
    inputs, C, s = _shared_gemm(m, n, k, ty, tx, r, kt)
    kern = alt.build(s, inputs + [C], target=CUDA)
    assert kern.cubin.read_bytes()[:4] == b"\x7fELF"


@pytest.mark.cuda
def test_cuda_builds_are_cached_by_source_and_architecture():
    def make(target):
        inputs, out, _ = _default("ADD")
        return alt.build(alt.ops.gpu_schedule(out, target), inputs + [out], target=target)
    a, b, c = make(CUDA), make(CUDA), make(alt.Target.parse("cuda -arch=sm_90"))
    assert a.cubin == b.cubin and a.cubin != c.cubin


# --- on a GPU -------------------------------------------------------------------------------------

@pytest.mark.gpu
@pytest.mark.parametrize("op", ["GMM", "C2D", "SFM", "DEP"])
def test_on_the_gpu_the_kernel_matches_the_interpreter_and_is_timed(op):
    from codegen.cuda_program import device_arch
    t = alt.Target.parse(f"cuda -arch={device_arch()}")
    w = Workload(op, f"{op}-small", SMALL_SHAPES[op])
    inputs, out = w.build()
    k = alt.build(alt.ops.gpu_schedule(out, t), inputs + [out], target=t)
    feed = random_inputs(inputs, seed=5)
    got = np.zeros(out.shape, np.float32)
    k(*[feed[x] for x in inputs], got)
    np.testing.assert_allclose(got, alt.evaluate(out, feed), rtol=1e-4, atol=1e-5)
    assert 0 < k.time(*[feed[x] for x in inputs], got) < 1.0


# --- the target, the primitive and its errors -------------------------------------------------------

def test_cuda_targets_parse_and_refuse_what_no_gpu_has():
    t = alt.Target.parse("cuda -arch=sm_86 -shared-bytes=96K -threads=128")
    assert (t.kind, t.arch, t.shared_bytes, t.threads, t.compute) == ("cuda", "sm_86", 96 << 10, 128, "compute_86")
    assert alt.Target.parse(str(t)) == dataclass_replace(t, name=str(t))
    with pytest.raises(alt.AltError, match="arch='sm_35'; use one of sm_75"):
        alt.Target.parse("cuda -arch=sm_35")
    with pytest.raises(alt.AltError, match="threads=100; use a multiple of 32"):
        alt.Target.parse("cuda -threads=100")
    with pytest.raises(alt.AltError, match="option '-lanes=4' is not one of"):
        alt.Target.parse("cuda -lanes=4")
    assert alt.Target.host().kind == "c"


def dataclass_replace(t, **kw):
    import dataclasses
    return dataclasses.replace(t, **kw)


def test_bind_is_a_recorded_step_that_replays():
    inputs, C, s = _tiled_gemm()
    text = s.to_json()
    assert '"step": "bind"' in text and '"tag": "threadIdx.y"' in text
    A, B = (alt.placeholder(t.shape, name=t.name) for t in inputs)
    C2 = alt.ops.matmul(A, B)
    again = alt.Schedule.from_json(text, [C2])
    assert CUDARenderer(CUDA).render(alt.lower(again, [A, B, C2]))[0] == \
        CUDARenderer(CUDA).render(alt.lower(s, inputs + [C]))[0]


def _gemm_stage():
    A, B = alt.placeholder((40, 30), name="A"), alt.placeholder((30, 50), name="B")
    C = alt.ops.matmul(A, B)
    return [A, B, C], C, alt.create_schedule(C)


@pytest.mark.parametrize("make,match", [
    (lambda s, C: s[C].bind(s[C].axis[0], "warpIdx.x"), "'warpIdx.x': the tag is not one of blockIdx.x"),
    (lambda s, C: s[C].bind(s[C].op.reduce_axis[0], "threadIdx.x"), "is a reduction axis; threads over a reduction"),
    (lambda s, C: (s[C].bind(s[C].axis[0], "threadIdx.x"), s[C].bind(s[C].axis[1], "threadIdx.x")),
     "is already bound to it"),
    (lambda s, C: (s[C].bind(s[C].axis[0], "threadIdx.y"), s[C].bind(s[C].axis[1], "threadIdx.x")),
     "the block would have 2000 threads; CUDA allows at most 1024"),
    (lambda s, C: (s[C].bind(s[C].axis[0], "blockIdx.x"), s[C].split(s[C].axis[0], factor=4)),
     "is bound to blockIdx.x; split it before binding"),
    (lambda s, C: (s[C].vectorize(s[C].axis[1]), s[C].bind(s[C].axis[1], "threadIdx.x")),
     "the loop is already marked vectorize"),
])
def test_bind_refuses_what_cuda_cannot_run(make, match):
    _, C, s = _gemm_stage()
    with pytest.raises(alt.ScheduleError, match=match):
        make(s, C)


def test_building_for_cuda_refuses_unbound_and_misplaced_loops():
    args, C, s = _gemm_stage()
    with pytest.raises(alt.BuildError, match="no loop is bound to blockIdx or threadIdx; bind the stage's loops"):
        alt.build(s, args, target=CUDA)
    args, C, s = _gemm_stage()
    i, j = s[C].axis
    s[C].bind(j, "threadIdx.x")  # inside the serial loop i
    with pytest.raises(alt.BuildError, match="bound to threadIdx.x inside a serial loop"):
        alt.build(s, args, target=CUDA)
    args, C, s = _gemm_stage()
    s[C].bind(s[C].axis[0], "blockIdx.x")
    s[C].parallel(s[C].axis[1])
    with pytest.raises(alt.BuildError, match="marked parallel, an OpenMP loop; on a CUDA target bind it"):
        alt.build(s, args, target=CUDA)
    args, C, s = _gemm_stage()
    s[C].bind(s[C].axis[0], "blockIdx.x")
    with pytest.raises(alt.BuildError, match="bound to blockIdx.x; only a CUDA target"):
        alt.build(s, args)  # the CPU target has no grid
    with pytest.raises(alt.OptionError, match="is not a CUDA target"):
        alt.ops.gpu_schedule(C, alt.Target.host())


def test_a_cuda_kernel_without_a_gpu_says_so_and_still_emulates():
    from codegen.cuda_program import device_arch
    if device_arch() is not None:
        pytest.skip("a GPU is here")
    inputs, out, s = _default("RELU")
    k = alt.build(s, inputs + [out], target=CUDA)
    x = np.random.default_rng(0).standard_normal(out.shape).astype(np.float32)
    with pytest.raises(alt.BuildError, match="needs pycuda .* and an NVIDIA GPU|nvcc was not found"):
        k(x, np.zeros_like(x))
    y = np.zeros_like(x)
    k.emulate(x, y)
    np.testing.assert_array_equal(y, np.maximum(x, 0))


# --- the GPU search space and tuning -------------------------------------------------------------

@pytest.mark.parametrize("op", ["C2D", "GMM", "DEP", "SFM", "T2D", "LN", "BMM", "MXP"])
def test_sampled_points_of_the_gpu_space_are_built_and_emulated_exactly(op):
    from search.space import space_for
    from search.gpu_space import GPUSpace
    w = Workload(op, f"{op}-small", SMALL_SHAPES[op])
    space = space_for(w, CUDA)
    assert isinstance(space, GPUSpace) and space.size() >= 192
    rng = np.random.default_rng(7)
    points = space.seeds() + [space.sample(rng) for _ in range(3)]
    for p in points:
        s, args = space.apply(p)
        k = alt.build(s, args, target=CUDA)
        _check_emulated(k, args[:-1], args[-1])


@pytest.mark.parametrize("params", [(64, 64, 48), (2, 32, 32, 16)], ids=["GMM", "BMM"])
def test_the_shared_memory_gemm_space_builds_every_sampled_point_exactly(params):
    from search.gpu_space import GPUGemmSpace
    from search.space import space_for
    w = Workload("GMM" if len(params) == 3 else "BMM", "gemm", params)
    space = space_for(w, CUDA)
    assert isinstance(space, GPUGemmSpace)
    rng = np.random.default_rng(2)
    for p in space.seeds() + [space.sample(rng) for _ in range(2)]:
        s, args = space.apply(p)
        k = alt.build(s, args, target=CUDA)
        assert "__syncthreads();" in k.source and k.launches[0].threads == p["ty"] * p["tx"]
        _check_emulated(k, args[:-1], args[-1])
    assert f"does not divide the {params[-3]} x {params[-2]} output" in space.check(dict(space.seeds()[0], tx=32, c=4))
    assert "shared tiles take" in space_for(w, alt.Target.parse("cuda -shared-bytes=1K")).check(space.seeds()[0])
    odd = space_for(Workload("GMM", "odd", (17, 9, 23)), CUDA)  # no block tile divides it
    assert not isinstance(odd, GPUGemmSpace)


def test_the_gpu_space_rejects_points_before_building_them():
    from search.space import Invalid, space_for
    space = space_for(Workload("GMM", "GMM-small", SMALL_SHAPES["GMM"]), CUDA)  # odd: the generic GPU space
    p = dict(space.seeds()[0], local=1, per_thread=1)
    assert "register tile (local) of one element" in space.check(p)
    with pytest.raises(Invalid, match="register tile"):
        space.apply(p)
    big = dict(space.seeds()[0], per_thread=8, out_layout="default")
    tiny = space_for(Workload("GMM", "GMM-t", (5, 4, 3)), CUDA)
    assert "per_thread=8 is more than the 4 elements" in tiny.check(big)


def test_the_build_worker_returns_the_launches_of_a_cuda_candidate():
    from search.measure import build_task
    from search.records import workload_key
    from search.space import space_for
    w = Workload("GMM", "GMM-small", SMALL_SHAPES["GMM"])
    p = space_for(w, CUDA).seeds()[0]
    r = build_task(workload_key(w), p, CUDA.to_dict())
    from codegen.nvcc import nvcc_path
    if nvcc_path() is None:
        assert r["error"] != 0 and "nvcc" in r["message"]
        return
    assert r["error"] == 0 and r["launches"] == [["alt_main_k0", [1, 1, 1], [17 * 9, 1, 1]]]  # a thread an element
    assert r["path"].endswith(".cubin") and [a[3] for a in r["args"]] == [False, False, True]


def test_tuning_for_cuda_without_a_gpu_is_refused_clearly():
    from codegen.cuda_program import device_arch
    if device_arch() is not None:
        pytest.skip("a GPU is here")
    from search.tune import tune
    with pytest.raises(alt.OptionError, match="no NVIDIA GPU of sm_80 or newer with pycuda here"):
        tune(Workload("GMM", "GMM-small", SMALL_SHAPES["GMM"]), trials=2, target=CUDA, quiet=True)


def test_cuda_records_name_the_architecture_and_flags():
    from alt.target import target_from_dict
    from search.records import target_record
    rec = target_record(CUDA)
    assert rec["kind"] == "cuda" and rec["arch"] == "sm_80" and "-arch=sm_80" in rec["flags"]
    assert target_from_dict(rec) == CUDA and CUDA.same_machine(rec)
    assert not alt.Target.host().same_machine(rec) and not CUDA.same_machine(target_record(alt.Target.host()))


# --- whole-vector accesses (float2 / float4) -----------------------------------------------------

def _vector_points(op, params):
    from search.gpu_space import GPUSpace
    w = Workload(op, f"{op}-vec", params)
    space = GPUSpace(w, CUDA)
    rng = np.random.default_rng(11)
    return space, [space.sample(rng, {"vector": 1, "per_thread": pt, "local": local})
                   for pt in (2, 4) for local in ((1,) if op == "GMM" else (0,))]  # a reduction vectorizes its local tile


@pytest.mark.parametrize("op,params", [("ADD", (2, 16, 6, 8)), ("RELU", (3, 4, 8, 12)), ("GMM", (24, 36, 20))])
def test_vector_loops_are_float4_where_aligned_and_the_emulation_checks_them(op, params):
    space, points = _vector_points(op, params)
    for p in points:
        s, args = space.apply(p)
        k = alt.build(s, args, target=CUDA)
        vtype = "float4" if p["per_thread"] == 4 else "float2"
        assert f"const {vtype} alt_v" in k.source and f"*({vtype}*)&" in k.source, k.source
        _check_emulated(k, args[:-1], args[-1])


def test_vector_loops_that_are_not_contiguous_or_aligned_run_lane_by_lane():
    X = alt.placeholder((6, 11), name="X")  # rows of 11, read from their second element: contiguous, unaligned
    Y = alt.compute((6, 10), lambda i, j: X[i, j + 1] * 2.0, name="Y")
    Z = alt.compute((6, 8), lambda i, j: X[i, 2 * (j // 2)] + X[i, 9 - j], name="Z")  # strided / reversed
    for out, inner in ((Y, 10), (Z, 8)):
        s = alt.create_schedule(out)
        i, j = s[out].axis
        jo, ji = s[out].split(j, factor=2)
        s[out].bind(s[out].fuse(i, jo), "threadIdx.x")
        s[out].vectorize(ji)
        k = alt.build(s, [X, out], target=CUDA)
        assert "float2" not in k.source and "#pragma unroll" in k.source
        _check_emulated(k, [X], out)


@pytest.mark.cuda
def test_float4_kernels_compile_with_nvcc():
    space, points = _vector_points("GMM", (64, 64, 32))
    for p in points:
        s, args = space.apply(p)
        k = alt.build(s, args, target=CUDA)
        assert k.cubin is not None and "float" in k.source
