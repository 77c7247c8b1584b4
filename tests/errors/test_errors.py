"""Error tier: bad input raises an alt.AltError subclass whose message says what and how to fix it."""
import numpy as np
import pytest

import alt
from conftest import make_conv, make_gemm


def test_error_family():
    for cls in (alt.ComputeError, alt.ScheduleError, alt.BuildError, alt.ArgumentError):
        assert issubclass(cls, alt.AltError)


def test_axis_from_another_stage():
    args, Y = make_conv()
    s = alt.create_schedule(Y)
    pad = s.stage("conv.pad")
    with pytest.raises(alt.ScheduleError, match=r"axis 'i0' belongs to stage 'conv.pad', not to 'conv'"):
        s[Y].split(pad.op.axis[0], factor=2)


def test_split_factor_below_one():
    args, C = make_gemm()
    s = alt.create_schedule(C)
    with pytest.raises(alt.ScheduleError, match=r"factor=0 must be an integer >= 1"):
        s[C].split(C.axis[0], factor=0)
    with pytest.raises(alt.ScheduleError, match=r"nparts=-2 must be an integer >= 1"):
        s[C].split(C.axis[0], nparts=-2)
    with pytest.raises(alt.ScheduleError, match="exactly one of factor= or nparts="):
        s[C].split(C.axis[0])
    assert s.steps == [], "a rejected step must not be recorded"


def test_reorder_duplicate_and_missing_axis():
    args, C = make_gemm()
    s = alt.create_schedule(C)
    i, j = C.axis
    with pytest.raises(alt.ScheduleError, match=r"axis 'i' is given twice"):
        s[C].reorder(i, j, i)
    io, ii = s[C].split(i, factor=4)
    with pytest.raises(alt.ScheduleError, match=r"axis 'i' was already split or fused; use one of the current "
                                                r"loops \[i.outer, i.inner, j, k\]"):
        s[C].reorder(j, i)
    with pytest.raises(alt.ScheduleError, match="is not an axis"):
        s[C].reorder("j", io)


def test_fuse_rules():
    args, C = make_gemm()
    s = alt.create_schedule(C)
    i, j = C.axis
    (k,) = C.op.reduce_axis
    with pytest.raises(alt.ScheduleError, match="must be adjacent loops"):
        s[C].fuse(j, i)
    with pytest.raises(alt.ScheduleError, match="cannot fuse reduction and spatial axes"):
        s[C].fuse(j, k)


def test_compute_at_to_a_stage_that_does_not_consume():
    X = alt.placeholder((8,), name="X")
    T = alt.compute((8,), lambda i: X[i] * 2, name="T")
    U = alt.compute((8,), lambda i: T[i] + 1, name="U")
    V = alt.compute((8,), lambda i: X[i] - 1, name="V")
    s = alt.create_schedule([U, V])
    with pytest.raises(alt.ScheduleError, match=r"'V' does not read 'T', and its readers \[U\] are not all "
                                                r"computed inside 'V'"):
        s[T].compute_at(s[V], V.axis[0])
    with pytest.raises(alt.ScheduleError, match="it is an output of the schedule"):
        s[U].compute_inline()


def test_compute_inline_of_a_reduction():
    args, C = make_gemm()
    D = alt.compute(C.shape, lambda i, j: C[i, j] + 1, name="D")
    s = alt.create_schedule(D)
    with pytest.raises(alt.ScheduleError, match="'C': it is a reduction"):
        s[C].compute_inline()


def test_vectorize_rules():
    args, C = make_gemm()
    s = alt.create_schedule(C)
    (k,) = C.op.reduce_axis
    with pytest.raises(alt.ScheduleError, match=r"vectorize on stage 'C': axis 'k' is a reduction axis"):
        s[C].vectorize(k)
    s[C].vectorize(C.axis[1])  # legal to annotate, but j is not innermost (k is inside it)
    with pytest.raises(alt.ScheduleError, match=r"loop 'j' must be the innermost loop, but loops \[k\] are inside"):
        alt.lower(s, args)


def test_parallel_rules():
    args, C = make_gemm()
    s = alt.create_schedule(C)
    with pytest.raises(alt.ScheduleError, match="is a reduction axis"):
        s[C].parallel(C.op.reduce_axis[0])
    s[C].parallel(C.axis[0])
    s[C].parallel(C.axis[1])
    with pytest.raises(alt.ScheduleError, match="parallel loop 'j' is nested inside parallel loop 'i'"):
        alt.lower(s, args)


def test_bad_pragma():
    args, C = make_gemm()
    s = alt.create_schedule(C)
    with pytest.raises(alt.ScheduleError, match=r"key 'asm' is not one of"):
        s[C].pragma(C.axis[0], "asm", 1)
    with pytest.raises(alt.ScheduleError, match=r"value 0 is wrong; expected an unroll count >= 1"):
        s[C].pragma(C.axis[0], "unroll", 0)


def test_build_args_checked():
    (A, B, C), _ = make_gemm()
    s = alt.create_schedule(C)
    with pytest.raises(alt.BuildError, match=r"placeholder 'B' is read by 'C' but is not in args \[A, C\]"):
        alt.build(s, [A, C])
    with pytest.raises(alt.BuildError, match="output 'C' is not in args"):
        alt.build(s, [A, B])
    with pytest.raises(alt.TargetError, match="target 'rocm': unknown CPU 'rocm'; known: .*znver3"):
        alt.build(s, [A, B, C], target="rocm")
    with pytest.raises(alt.BuildError, match="no loop is bound to blockIdx or threadIdx"):
        alt.build(s, [A, B, C], target="cuda")  # a CPU schedule is not a GPU one


def test_call_time_shape_dtype_layout_errors():
    (A, B, C), _ = make_gemm(4, 5, 6)
    f = alt.build(alt.create_schedule(C), [A, B, C])
    a, b, c = np.zeros((4, 6), "f4"), np.zeros((6, 5), "f4"), np.zeros((4, 5), "f4")
    with pytest.raises(alt.ArgumentError, match=r"argument 'B': expected shape \[6, 5\], got \[5, 6\]"):
        f(a, b.T.copy(), c)
    with pytest.raises(alt.ArgumentError, match=r"argument 'A': expected dtype float32, got float64"):
        f(a.astype("f8"), b, c)
    with pytest.raises(alt.ArgumentError, match="C-contiguous"):
        f(np.zeros((6, 4), "f4").T, b, c)
    with pytest.raises(alt.ArgumentError, match=r"takes 3 arrays \(A, B, C\), got 2"):
        f(a, b)
    with pytest.raises(alt.ArgumentError, match="expected a numpy array"):
        f(a.tolist(), b, c)
    c.flags.writeable = False
    with pytest.raises(alt.ArgumentError, match="'C': the kernel writes this array but it is read-only"):
        f(a, b, c)
    c.flags.writeable = True
    for bad, match in (({"repeat": 0}, "repeat=0; give a whole number >= 1"),
                       ({"warmup": -1}, "warmup=-1; give a whole number >= 0"),
                       ({"number": 2.5}, "number=2.5; give a whole number >= 1"),
                       ({"min_time": -0.1}, "min_time=-0.1; give seconds >= 0")):
        with pytest.raises(alt.OptionError, match=match):
            f.time(a, b, c, **bad)
    assert f.time(a, b, c, repeat=1, warmup=0, number=1) > 0


def test_apply_best_without_a_log_says_so(tmp_path):
    missing = tmp_path / "tuning.jsonl"
    with pytest.raises(alt.OptionError, match=f"apply_best: no tuning log '{missing}'"):
        alt.apply_best(missing, "GMM-0")
    missing.write_text("")
    assert alt.apply_best(missing, "GMM-0") is None  # a log without a record of it
    # a folder given as the log: every reader of logs says so (apply_best, a network's replay, transfer)
    import search
    from alt.graph import Graph, compile_network, relu
    g = Graph("tiny")
    g.output(relu(g.input((1, 4, 4, 4), "x")))
    for read in (lambda: alt.apply_best(tmp_path, "GMM-0"), lambda: compile_network(g, log=tmp_path),
                 lambda: search.tune("GMM-0", trials=1, transfer=[tmp_path], quiet=True)):
        with pytest.raises(alt.OptionError, match=f"cannot read the tuning log '{tmp_path}' \\(Is a directory\\)"):
            read()


def test_missing_c_compiler(monkeypatch, tmp_path):
    (A, B, C), _ = make_gemm(3, 3, 3)
    s = alt.create_schedule(C)
    s[C].split(C.axis[0], factor=2)  # a source not in the cache
    monkeypatch.setenv("ALT_CC", "no-such-cc-1234")
    monkeypatch.setenv("ALT_CACHE_DIR", str(tmp_path))
    with pytest.raises(alt.BuildError, match="C compiler 'no-such-cc-1234' was not found on PATH"):
        alt.build(s, [A, B, C])


def test_interpreter_reports_out_of_bounds_reads():
    X = alt.placeholder((4,), name="X")
    Y = alt.compute((4,), lambda i: X[i + 1], name="Y")
    with pytest.raises(alt.ComputeError, match=r"'X' of shape \[4\] is read out of bounds at \[4\]"):
        alt.evaluate(Y, {X: np.zeros(4, "f4")})


def test_duplicate_tensor_names():
    X = alt.placeholder((4,), name="T")
    Y = alt.compute((4,), lambda i: X[i] + 1, name="T")
    with pytest.raises(alt.ScheduleError, match="two different tensors are named 'T'"):
        alt.create_schedule(Y)


def test_output_aliasing_an_input_is_rejected():
    X = alt.placeholder((8,), name="X")
    Y = alt.compute((8,), lambda i: X[i] * 2, name="Y")
    f = alt.build(alt.create_schedule(Y), [X, Y])
    x = np.ones(8, "f4")
    with pytest.raises(alt.ArgumentError, match="'Y' and 'X' share memory"):
        f(x, x)


def test_pad_amounts_are_whole_numbers_and_a_negative_one_crops():
    X = alt.placeholder((2, 5, 6), name="X")
    for amounts, match in (((0, 1.5, 0), r"amount 1.5 .* is not a whole number"),
                           ((0, "a", 0), r"amount 'a' .* is not a whole number"),
                           ((0, -9, 0), r"leaves the shape \[2, -13, 6\]; a dimension must keep at least 1")):
        with pytest.raises(alt.ComputeError, match=match):
            alt.ops.pad(X, amounts)
    x = np.arange(60, dtype="f4").reshape(2, 5, 6)
    Y = alt.ops.pad(X, (0, -1, 2), (1, 0, -3), value=-1.0)  # as torch.nn.functional.pad: crops and pads
    want = np.pad(x[:, 1:, :3], ((0, 1), (0, 0), (2, 0)), constant_values=-1.0)
    np.testing.assert_array_equal(alt.evaluate(Y, {X: x}), want)


def test_cast_with_its_arguments_swapped_names_the_order():
    A = alt.placeholder((4,), name="A")
    with pytest.raises(alt.ComputeError, match=r"alt.cast\(dtype, value\): dtype A\[0\] is not supported"):
        alt.cast(A[0], "int32")
    C = alt.compute((4,), lambda i: alt.cast("int32", A[i] * 10), name="C")
    np.testing.assert_array_equal(alt.evaluate(C, {A: np.array([0.15, 1.5, -2.25, 3.0], "f4")}), [1, 15, -22, 30])
