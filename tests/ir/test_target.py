"""The target model in pure Python: parsing, detection, and the schedule choices it drives, for an
AVX-512 and an AVX2 machine whatever the host is."""
import json

import pytest

import alt
from alt.ops import Workload
from alt.target import Target, TargetError, current
from search.space import space_for

AVX512, AVX2 = Target.parse("avx512"), Target.parse("znver3")
BOTH = [AVX512, AVX2]


def test_named_targets_carry_their_isa():
    assert (AVX512.vector_bytes, AVX512.registers, AVX512.lanes(), AVX512.lanes("float64")) == (64, 32, 16, 8)
    assert (AVX2.vector_bytes, AVX2.registers, AVX2.lanes(), AVX2.isa) == (32, 16, 8, "avx2")
    assert "-march=znver3" in AVX2.flags() and "-mprefer-vector-width=256" in AVX2.flags()
    assert "-mprefer-vector-width=512" in AVX512.flags()
    assert "sse4a" in AVX2.requires and "avx512f" in AVX512.requires


def test_target_strings_with_overrides_and_round_trip():
    t = Target.parse("c -mcpu=znver3 -cores=4 -l2=512K -l3=32M")
    assert (t.cores, t.l2, t.l3, t.march) == (4, 512 << 10, 32 << 20, "znver3")
    assert Target.parse("llvm -mcpu=skylake-avx512 -num-cores=8").cores == 8
    assert Target.from_dict(json.loads(json.dumps(t.to_dict()))) == t
    assert t.key() != AVX2.key() or t.cores != AVX2.cores  # cores do not change code ...
    assert AVX2.key() != AVX512.key() != Target.host().key()  # ... the ISA and the CPU do


@pytest.mark.parametrize("text,match", [
    ("pentium9", "unknown CPU 'pentium9'; known: .*znver3"),
    ("c -mcpu=znver3 -cores=many", "-cores='many'; use a whole number"),
    ("c -mcpu=znver3 -cores=0", "cores=0; use a whole number >= 1"),
    ("c -mcpu=znver3 -vector-bytes=48", "vector_bytes=48; use 16, 32 or 64"),
    ("c -mcpu=znver3 -l2=big", "-l2='big' is not a size"),
    ("c -mcpu=znver3 -frobnicate=1", r"unknown options \['frobnicate'\]"),
    ("c -mcpu=znver3 cores", "option 'cores' is not of the form -name=value"),
    ("c -mcpu=skylake-avx512 -mcpu=znver3", "the CPU is named twice; give it once"),
    ("znver3 -mcpu=znver4", "the CPU is named twice"),
    ("c -cores=2 -num-cores=4", r"-cores is given twice \(-num-cores is TVM's name for -cores\)"),
    ("avx2 -l2=1M -l2=2M", "-l2 is given twice"),
    ("", "give a string such as"),
])
def test_bad_target_strings_are_target_errors(text, match):
    with pytest.raises(TargetError, match=match):
        Target.parse(text)


def test_host_is_detected_from_the_machine():
    h = Target.host()
    assert h.march == "native" and h.model and h.cores >= 1 and h.runs_here()
    assert h.vector_bytes in (16, 32, 64) and h.l1 < h.l2 < h.l3
    flags = open("/proc/cpuinfo").read()
    assert (h.isa == "avx512") == ("avx512f" in flags)


def test_current_target_follows_with_blocks_and_the_environment(monkeypatch):
    monkeypatch.delenv("ALT_TARGET", raising=False)
    assert current() == Target.host()
    with AVX2:
        assert current() is AVX2
        with AVX512:
            assert current() is AVX512
        assert current() is AVX2
    monkeypatch.setenv("ALT_TARGET", "c -mcpu=znver3 -cores=3")
    assert current().march == "znver3" and current().cores == 3
    monkeypatch.setenv("ALT_TARGET", "nonsense")
    with pytest.raises(TargetError, match="ALT_TARGET: target 'nonsense'"):
        current()


@pytest.mark.parametrize("t", BOTH, ids=lambda t: t.isa)
def test_register_tiles_fit_the_register_file(t):
    for kw in ({}, {"rows": range(1, 9)}, {"rows": range(1, 9), "vectors": range(1, 5)}):
        r, v = t.register_tile(**kw)
        assert r * v + v + 1 <= t.registers  # accumulators, a row of operands, one broadcast
    assert t.register_tile() == ((4, 4) if t.registers == 32 else (4, 2))


@pytest.mark.parametrize("t", BOTH, ids=lambda t: t.isa)
def test_default_and_hand_schedules_follow_the_vector_width(t):
    lanes = t.lanes()
    with t:
        X = alt.placeholder((1, 64, 14, 14), name="X")
        W = alt.placeholder((64, 64, 3, 3), name="W")
        Y = alt.ops.conv2d_nchw(X, W, padding=1)
        s = alt.ops.hand.conv2d_nchwc(alt.create_schedule(Y), Y)
        vectors, rows = alt.ops.hand.conv_tile(14, 64)
        assert s.layout_of(Y).shape[-1] == vectors * lanes and vectors * rows + 1 <= t.registers
        assert alt.ops.hand.blocked_layout(channels=64, width=14) == f"NCHW{vectors * lanes}c"
        assert alt.ops.hand.blocked_layout(channels=lanes + 1) is None  # channels that are not whole vectors
        A, B = alt.placeholder((64, 64), name="A"), alt.placeholder((64, 64), name="B")
        C = alt.ops.matmul(A, B)
        text = str(alt.lower(alt.ops.default_schedule(C), [A, B, C]))
    rows, vecs = t.register_tile()
    assert f"allocate C.local: float32[{rows}, {vecs * lanes}] (stack)" in text  # the register tile
    assert f"vectorize j.c in 0..{vecs * lanes}:" in text


@pytest.mark.parametrize("t", BOTH, ids=lambda t: t.isa)
@pytest.mark.parametrize("name", ["C2D-1", "R18-7", "GMM-3", "RELU-0"])
def test_tuning_spaces_use_whole_vectors_and_fit_the_registers(t, name):
    import numpy as np
    w = next(x for x in alt.ops.suite() if x.name == name)
    space = space_for(w, t)
    lanes = t.lanes()
    rng = np.random.default_rng(0)
    for _ in range(40):
        p = space.sample(rng)
        if "ob" in p and p["layout"] != "NCHW":
            assert p["ob"] % lanes == 0
            assert p["tile_y"] * p["tile_x"] * p["ob"] // lanes <= t.registers
        if "tile_j" in p:
            assert p["tile_j"] % lanes == 0 and p["nb"] % lanes == 0
            assert p["tile_i"] * p["tile_j"] // lanes <= t.registers
        if "out_layout" in p:
            assert p["out_layout"] in ("default", "NHWC", f"NCHW{lanes}c")


def test_records_name_the_target_and_prefer_this_machine(tmp_path, caplog):
    from search import records as R
    w = Workload("GMM", "GMM-8", (8, 8, 8))
    log = R.Log(tmp_path / "t.jsonl")
    elsewhere = R.make(w, {"x": 1}, [1e-6], target=AVX2)
    elsewhere["target"]["host"] = "AMD EPYC 7B13"
    log.append(elsewhere)
    assert log.best(w, Target.host()) == elsewhere and "no record of GMM-8 was measured on this machine" in caplog.text
    here = R.make(w, {"x": 2}, [1e-3], target=Target.host())
    log.append(here)
    assert log.best(w, Target.host())["point"] == {"x": 2}  # slower, but measured here
    assert here["target"]["isa"] == Target.host().isa and "-march=native" in here["target"]["flags"]


def test_an_arm_target_does_not_run_on_an_x86_machine_and_says_what_it_lacks():
    from alt.target import missing_flags
    arm = Target.parse("c -mcpu=armv8-a")
    on_arm = "asimd" in open("/proc/cpuinfo").read().split()
    assert arm.runs_here() == on_arm and missing_flags(arm) == ([] if on_arm else ["asimd"])
    if not on_arm:
        from search.measure import check_runs_here
        with pytest.raises(alt.OptionError, match=r"lacks the CPU features its kernels use \(asimd\).*only on a "
                                                  "machine of its architecture, or with a cross compiler as ALT_CC"):
            check_runs_here(arm)
