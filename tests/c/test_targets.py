"""Generated code for both CPU kinds on any host: AVX-512 and AVX2 targets compile everywhere and
run (checked against the reference) where the host has the ISA."""
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

import alt
from alt.target import Target
from alt.testing import random_inputs

TARGETS = [Target.parse("avx512"), Target.parse("avx2"), Target.parse("znver3"), Target.parse("sapphirerapids")]
IDS = [t.name for t in TARGETS]


def _ops():
    X = alt.placeholder((1, 8, 6, 48), name="X")  # rows of whole vectors on either ISA
    W = alt.placeholder((16, 8, 3, 3), name="W")
    yield "conv", [X, W], alt.ops.conv2d_nchw(X, W, padding=1)
    A, B = alt.placeholder((40, 24), name="A"), alt.placeholder((24, 72), name="B")
    yield "gemm", [A, B], alt.ops.matmul(A, B)
    S = alt.placeholder((6, 50), name="S")
    yield "softmax", [S], alt.ops.softmax(S)


def _asm(path):
    if shutil.which("objdump") is None:
        pytest.skip("objdump is not installed (binutils)")
    return subprocess.run(["objdump", "-d", str(path)], capture_output=True, text=True, timeout=60).stdout


@pytest.mark.parametrize("target", TARGETS, ids=IDS)
def test_each_target_compiles_its_own_vectors_and_runs_where_it_can(target):
    for name, inputs, out in _ops():
        with target:
            k = alt.build(alt.ops.default_schedule(out), inputs + [out])
        asm = _asm(k.program.path)
        if target.vector_bytes == 64:
            assert "%zmm" in asm, name
        else:
            assert "%zmm" not in asm and "%ymm" in asm, name
        feed = random_inputs(inputs, 0)
        if not target.runs_here():
            with pytest.raises(alt.TargetError, match="uses CPU features this machine lacks"):
                k(*[feed[t] for t in inputs], np.zeros(out.shape, "f4"))
            continue
        got = np.zeros(out.shape, "f4")
        k(*[k.pack(t, feed[t]) for t in inputs], got)
        np.testing.assert_allclose(k.unpack(out, got), alt.evaluate(out, feed), rtol=1e-4, atol=1e-5)


def test_the_build_cache_keeps_targets_apart():
    from codegen import compile_c
    src = "int alt_f(float* x) { for (int i = 0; i < 64; ++i) x[i] *= 2.0f; return 0; }\n"
    paths = {compile_c(src, t) for t in TARGETS + [Target.host()]}
    assert len(paths) == len(TARGETS) + 1


def test_hand_schedules_of_both_targets_are_correct_here():
    for t in (Target.parse("avx512"), Target.parse("avx2")):
        if not t.runs_here():
            continue
        with t:
            A, B = alt.placeholder((96, 40), name="A"), alt.placeholder((40, 100), name="B")
            C = alt.ops.matmul(A, B)
            k = alt.build(alt.ops.matmul_packed(alt.create_schedule(C), C), [A, B, C])
        a, b = np.random.default_rng(0).standard_normal((2, 100, 100)).astype("f4")
        a, b = a[:96, :40].copy(), b[:40, :100].copy()
        c = np.zeros((96, 100), "f4")
        k(a, k.pack(B, b), c)
        np.testing.assert_allclose(c, a @ b, rtol=1e-4, atol=1e-4)


def test_benchmark_sees_other_processes_take_the_cpu():
    """Two busy processes on a two-core machine: the kernel's threads wait for a CPU, and the
    timing says so (each disturbed repeat is run again, and what stays disturbed is flagged)."""
    n = 96
    A, B = alt.placeholder((n, n), name="A"), alt.placeholder((n, n), name="B")
    C = alt.ops.matmul(A, B)
    k = alt.build(alt.ops.default_schedule(C), [A, B, C])
    a, b, c = np.ones((n, n), "f4"), np.ones((n, n), "f4"), np.zeros((n, n), "f4")
    from alt.timing import runqueue_wait
    if runqueue_wait() is None:
        pytest.skip("this kernel does not report run-queue waits (/proc/self/task/*/schedstat)")
    clear = k.benchmark(a, b, c, repeat=3, min_time=0.005).min
    number = max(1, int(0.05 / clear))  # batches of ~50 ms: several scheduler slices each
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(Target.host().cores)]
    try:
        time.sleep(0.3)
        t = k.benchmark(a, b, c, number=number, repeat=3, retries=2)
    finally:
        for h in hogs:
            h.kill()
    # at least one repeat waited for a CPU and was thrown away; the kept ones may have run clear
    assert t.discarded > 0


def test_a_calibration_batch_that_waited_is_not_taken_as_the_batch_size(monkeypatch):
    """Contention during calibration made one call look 250x slower; the batch size must come
    from batches that ran clear, or the repeats end up far shorter than min_time."""
    import alt.timing as T
    clock = {"t": 0.0, "wait": 0.0, "calls": 0}
    def run():  # 1 ms a call; the 2nd-4th calls after warm-up are stalled 250 ms by "another process"
        clock["calls"] += 1
        stalled = 2 <= clock["calls"] <= 4
        clock["t"] += 0.25 if stalled else 0.001
        clock["wait"] += 0.249 if stalled else 0.0
    monkeypatch.setattr(T.time, "perf_counter", lambda: clock["t"])
    monkeypatch.setattr(T.time, "sleep", lambda s: None)
    monkeypatch.setattr(T, "runqueue_wait", lambda: clock["wait"])
    t = T.benchmark(run, repeat=3, min_time=0.02)
    assert t.number >= 16 and t.discarded == 0
    assert t.min == pytest.approx(0.001)


def test_networks_and_recursive_models_for_another_cpu_refuse_to_run_instead_of_crashing():
    from alt.graph import compile_network, zoo
    from alt.recursive import compile as compile_model
    from alt.recursive import data, models
    foreign = [t for t in TARGETS if not t.runs_here()]
    if not foreign:
        pytest.skip("this CPU runs code for every target of the list")
    t = foreign[0]
    model = models.tree_fc(hidden=16, vocab=10)
    net = compile_model(model, target=t)
    with pytest.raises(alt.TargetError, match=f"recursive model treefc was compiled for {t.name} .* lacks"):
        net(data.sst_like(1, vocab=10))
    with pytest.raises(alt.TargetError, match="lacks"):
        net.run(net.prepare(data.sst_like(1, vocab=10)))
    g = zoo.bert_layer(seq=8, hidden=32, heads=2, ffn=64)
    with pytest.raises(alt.TargetError, match=f"network {g.name} was compiled for {t.name}"):
        compile_network(g, target=t)(*[np.zeros(v.shape, "f4") for v in g.inputs])
