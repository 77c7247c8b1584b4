"""Nothing a user does crashes, hangs or silently corrupts: names that C would misread, recursive
inputs of every wrong kind, concurrent calls, NaN and integer division semantics, schedules gcc
rejects. Each test failed (crashed, hung or answered wrong) before the fix it covers."""
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import alt
from alt.interp import evaluate
from alt.recursive import DAG, StructureError, Tree, compile, data, models, reference

# identifiers gcc or our own code would misread: keywords, macros and functions of the headers we
# include, gcc's predefined macros, our helpers and driver locals, and names that sanitize alike
NASTY = ["alt_x", "INFINITY", "NAN", "int32_t", "expf", "linux", "unix", "asm", "typeof", "_Bool", "for", "main",
         "alt_min_f32", "alt_main", "free", "restrict", "aligned_alloc", "memcpy", "n", "ws", "off", "__x", "1st",
         "a-b", "a b", "é", "x" * 80]


def _call_with_deadline(fn, seconds):
    """fn() in a thread; fail (instead of hanging the suite) if it does not return in time."""
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("v", fn()), daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"did not return within {seconds} s"
    return out.get("v")


@pytest.mark.parametrize("name", NASTY)
def test_any_tensor_and_kernel_name_compiles_and_runs(name):
    A = alt.placeholder((8, 5), name=name)
    B = alt.placeholder((5,), name=name + ".2")
    k = alt.reduce_axis(5, name=name + "k")
    S = alt.compute((8,), lambda i: alt.sum(A[i, k] * B[k], axis=k), name=name + "S")
    C = alt.compute((8,), lambda i: S[i] + alt.exp(A[i, 0]), name=name + "C")
    s = alt.create_schedule(C)
    f = _call_with_deadline(lambda: alt.build(s, [A, B, C], name=name), 60)
    a, b = np.random.default_rng(0).random((8, 5), "f4"), np.random.default_rng(1).random(5, "f4")
    c = np.full(8, np.nan, "f4")
    f(a, b, c)
    np.testing.assert_allclose(c, a @ b + np.exp(a[:, 0]), rtol=1e-5)


def test_names_that_sanitize_alike_stay_apart():
    A, B = alt.placeholder((4,), name="a.b"), alt.placeholder((4,), name="a_b")
    C = alt.compute((4,), lambda i: A[i] - B[i], name="a_b_")
    f = alt.build(alt.create_schedule(C), [A, B, C])
    c = np.empty(4, "f4")
    f(np.full(4, 3, "f4"), np.ones(4, "f4"), c)
    assert (c == 2).all()


# recursive models ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def gru():
    return compile(models.tree_gru(hidden=16, vocab=40, seed=3))


def test_workspace_grows_with_room_for_its_alignment(gru):
    m = gru.model
    gru([7])
    for n in range(2, 40):  # every size just past the previous one, where the alignment used to overflow
        tree = Tree(np.concatenate([[-1], np.arange(n - 1)]).astype(np.int32), np.full(n, 5, np.int32))
        np.testing.assert_allclose(gru([tree]), reference(m, [tree]), rtol=2e-4, atol=2e-5)


def test_integer_arrays_of_any_width_are_checked_and_cast(gru):
    m = gru.model
    child64 = np.array([[1, 2], [-1, -1], [-1, -1]], np.int64)  # numpy's default integer
    word64 = np.array([-1, 5, 9], np.int64)
    want = reference(m, [((5, 9))])
    np.testing.assert_allclose(gru([(child64, word64)]), want, rtol=2e-4, atol=2e-5)
    np.testing.assert_allclose(gru([(child64.astype(np.int16), word64.astype(np.int16))]), want, rtol=2e-4,
                               atol=2e-5)
    np.testing.assert_allclose(gru([Tree(np.array([-1, 0, 0]), np.array([-1, 5, 9]))]), want, rtol=2e-4,
                               atol=2e-5)


@pytest.mark.parametrize("structure,match", [
    ((np.array([[-1]]), np.array([3.0])), "structure 0 .*word array has dtype float64; expected integers"),
    ((np.array([[1.0], [-1.0]]), np.array([3, 4])), "child array has dtype float64"),
    ((np.array([[-1]]), np.array([True])), "word array has dtype bool"),
    ((np.array([[-1]]), np.array([2 ** 40])), "word index 1099511627776"),
    ((np.array([[5], [-1]]), np.array([1, 2])), "node 0 has child index 5"),
    ((np.array([[-7], [-1]]), np.array([1, 2])), "child index -7"),
    ((np.array([-1]), np.array([1])), r"child array has shape \(1,\); expected \(nodes, children\)"),
    ((np.array([[-1], [-1]]), np.array([1])), r"child of shape \(1, k\)"),
    ((np.zeros((0, 2), np.int32), np.zeros(0, np.int32)), "it has no nodes"),
    (Tree(np.array([-1, 0]), np.array([1.5, 2.0])), "integer arrays"),
    (DAG([], np.array([], np.int32)), "no nodes"),
    (DAG([[0.5]], np.array([1])), "reads node 0.5"),
    (DAG(5, np.array([1])), "preds is a int"),
])
def test_bad_recursive_inputs_are_structure_errors(gru, structure, match):
    with pytest.raises(StructureError, match=match):
        gru([((1, 2), 3), structure] if "structure 0" not in match else [structure])


def test_an_empty_dag_in_a_batch_is_an_error_not_the_previous_root():
    net = compile(models.dag_rnn(hidden=16, vocab=40, seed=3))
    with pytest.raises(StructureError, match="structure 1 of the batch: it has no nodes"):
        net([DAG([[]], np.array([1])), DAG([], np.array([], np.int32))])


# concurrency -----------------------------------------------------------------------------------

def test_recursive_model_is_correct_from_many_threads():
    net = compile(models.tree_lstm(hidden=32, vocab=1000, seed=0))
    batches = [data.sst_like(1 + i % 3, seed=i) for i in range(16)]
    want = [net(b) for b in batches]
    with ThreadPoolExecutor(8) as ex:
        got = list(ex.map(net, batches * 2))
    for g, w in zip(got, want * 2):
        np.testing.assert_array_equal(g, w)


def test_network_is_correct_from_many_threads():
    from alt.graph import compile_network, zoo
    g = zoo.resnet18(image=32)
    net = compile_network(g)
    xs = [np.random.default_rng(i).standard_normal(g.inputs[0].shape).astype("f4") for i in range(16)]
    want = [net(x) for x in xs]
    with ThreadPoolExecutor(8) as ex:
        got = list(ex.map(net, xs))
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)


# schedules -------------------------------------------------------------------------------------

def test_cache_write_twice_or_onto_a_taken_name_is_refused():
    A = alt.placeholder((16, 16), name="A")
    C = alt.compute((16, 16), lambda i, j: A[i, j] * 2, name="C")
    s = alt.create_schedule(C)
    CC = s.cache_write(C)
    with pytest.raises(alt.ScheduleError, match="already writes through the cache stage 'C.local'"):
        s.cache_write(C)
    with pytest.raises(alt.ScheduleError, match="itself the cache stage of 'C'"):
        s.cache_write(CC)
    L = alt.compute((16, 16), lambda i, j: A[i, j] + 1, name="D.local")
    D = alt.compute((16, 16), lambda i, j: L[i, j] * 3, name="D")
    s2 = alt.create_schedule(D)
    with pytest.raises(alt.ScheduleError, match="already has a tensor of that name"):
        s2.cache_write(D)


def _stage():
    A = alt.placeholder((64, 70000), name="A")
    C = alt.compute((64, 70000), lambda i, j: A[i, j] * 2, name="C")
    return A, C, alt.create_schedule(C)


@pytest.mark.parametrize("steps,match", [
    ([("vectorize", 1), ("pragma", 1, "unroll", 4)], "marked vectorize and unroll"),
    ([("pragma", 1, "unroll", 4), ("vectorize", 1)], "marked vectorize and unroll"),
    ([("vectorize", 1), ("pragma", 1, "ivdep")], "marked vectorize and ivdep"),
    ([("parallel", 0), ("pragma", 0, "simd")], "marked parallel and simd"),
    ([("parallel", 0), ("pragma", 0, "unroll", 2)], "marked parallel and unroll"),
    ([("vectorize", 1), ("pragma", 1, "simd")], "marked vectorize and simd"),
    ([("pragma", 0, "simd"), ("parallel", 1)], "inside the simd loop"),
    ([("parallel", 1), ("pragma", 0, "simd")], "inside the simd loop"),
    ([("unroll", 1)], "gcc unrolls at most 65534"),
    ([("pragma", 0, "unroll", 65535)], "gcc unrolls at most 65534"),
    ([("unroll", 0), ("pragma", 0, "unroll", 2)], "two unroll counts"),
])
def test_loop_marks_gcc_rejects_are_refused_at_the_step(steps, match):
    A, C, s = _stage()
    i, j = C.op.axis
    axes = (i, j)
    *ok, last = steps
    for verb, ax, *rest in ok:
        getattr(s[C], verb)(axes[ax], *rest)
    verb, ax, *rest = last
    before = list(s.steps)
    with pytest.raises(alt.ScheduleError, match=match):
        getattr(s[C], verb)(axes[ax], *rest)
    assert s.steps == before  # the refused step changed nothing


def test_nested_unrolling_that_would_keep_gcc_busy_for_minutes_is_refused_when_lowered():
    A = alt.placeholder((64, 32, 64), name="A")
    B = alt.compute((64, 32, 64), lambda i, j, k: A[i, j, k] * 2, name="B")
    s = alt.create_schedule(B)
    i, j, k = B.op.axis
    s[B].unroll(k)
    s[B].pragma(j, "unroll", 4)  # 256 statements: builds, and computes what it should
    f = alt.build(s, [A, B])
    a = np.random.rand(64, 32, 64).astype("f4")
    b = np.empty_like(a)
    f(a, b)
    np.testing.assert_array_equal(b, a * 2)
    s1 = alt.create_schedule(B)
    s1[B].unroll(k)
    s1[B].unroll(j)
    s1[B].pragma(i, "unroll", 8)  # 8 x 2,048 = 16,384: still allowed
    alt.lower(s1, [A, B])
    s2 = alt.create_schedule(B)
    for ax in B.op.axis:
        s2[B].unroll(ax)  # 131,072 statements
    with pytest.raises(alt.ScheduleError, match="loop 'i' of the nest that writes B: unrolling it 64 times "
                                                "around a body that is 2048 statements.* 131072; at most 65536"):
        alt.lower(s2, [A, B])
    with pytest.raises(alt.ScheduleError, match="at most 65536"):
        alt.build(s2, [A, B])  # refused before gcc sees it


@pytest.mark.parametrize("isa", ["avx512", "znver3"])
def test_an_unrolled_accumulator_far_past_the_registers_is_refused_when_lowered(isa):
    """A local tile whose unrolled copies spill past the target's vector registers is refused when
    lowered once its vectors times its unrolled updates (reduction loops its index does not read)
    pass ACCUMULATOR_REGISTERS times the registers: gcc spills it and its register allocation takes
    minutes (a conv2d tile of 512 vectors passed the 120 s build timeout, a depthwise tile of 224
    vectors with its 9 taps unrolled 200 s). A register tile, the same tile unrolled along its
    reduction, and a spilled tile at the limit lower."""
    from alt.lower_checks import ACCUMULATOR_REGISTERS as times
    target = alt.Target.parse(isa)
    lanes, regs = target.vector_bytes // 4, target.registers
    n, k = 2 * times * regs * lanes, 8
    A = alt.placeholder((n, k), name="A")
    r = alt.reduce_axis(k, name="r")
    C = alt.compute((n,), lambda i: alt.sum(A[i, r], axis=r), name="C")

    def scheduled(rows, unroll_reduction=False):
        s = alt.create_schedule(C)
        L = s.cache_write(C, "local")
        io, ii = s[C].split(C.op.axis[0], factor=rows * lanes)
        s[L].compute_at(s[C], io)
        lo, li = s[L].split(s[L].op.axis[0], factor=lanes)
        s[L].reorder(s[L].op.reduce_axis[0], lo, li)
        s[L].unroll(lo)
        s[L].vectorize(li)
        if unroll_reduction:
            s[L].unroll(s[L].op.reduce_axis[0])
        return s

    with target:
        alt.lower(scheduled(regs), [A, C])  # a register tile
        alt.lower(scheduled(regs, unroll_reduction=True), [A, C])  # updated k times: still the registers
        alt.lower(scheduled(times * regs), [A, C])  # spilled, at the limit
        with pytest.raises(alt.ScheduleError, match=rf"write {2 * times * regs * lanes} elements of the local "
                                                    rf"buffer 'C.local', {2 * times * regs} vectors, more than the "
                                                    rf"target's {regs} vector registers; at most {times * regs} "
                                                    rf"vector updates \({times}x the registers\)"):
            alt.lower(scheduled(2 * times * regs), [A, C])
        alt.lower(scheduled(2 * regs), [A, C])  # spilled a little
        with pytest.raises(alt.ScheduleError, match=rf"{2 * regs} vectors, more than the target's {regs} vector "
                                                    rf"registers, each {k} times over \(r \({k}\)\)"):
            alt.lower(scheduled(2 * regs, unroll_reduction=True), [A, C])  # and updated k times: 2k x the registers


def test_reorder_that_puts_a_parallel_loop_inside_a_simd_loop_is_refused():
    A, C, s = _stage()
    i, j = C.op.axis
    s[C].parallel(i)
    s[C].pragma(j, "simd")  # simd inside parallel: fine
    with pytest.raises(alt.ScheduleError, match="parallel loop 'i' would be inside the simd loop 'j'"):
        s[C].reorder(j, i)
    assert [v.name for v in s[C].leaves] == ["i", "j"]  # unchanged


def test_gcc_rejection_is_a_build_error_naming_the_kernel_and_steps(monkeypatch):
    import codegen.c_render as cr
    orig = cr.CRenderer.loop_pragmas
    monkeypatch.setattr(cr.CRenderer, "loop_pragmas", lambda self, loop: orig(self, loop) * 2)
    A = alt.placeholder((64, 64), name="A")
    B = alt.compute((64, 64), lambda i, j: A[i, j] * 2, name="B")
    s = alt.create_schedule(B)
    s[B].vectorize(B.op.axis[1])
    with pytest.raises(alt.BuildError) as e:
        alt.build(s, [A, B], name="twice")
    text = str(e.value)
    assert text.startswith("gcc rejected the generated C of kernel alt_twice_: for statement expected")
    assert "steps on the rejected loops: {'step': 'annotate', 'stage': 'B', 'axis': 'j', 'kind': 'vectorize'}" in text
    assert "#pragma omp simd" in text and "--- gcc output ---" in text


# semantics shared by the C and the interpreter ------------------------------------------------

@pytest.mark.parametrize("op", ["relu", "clip", "max_pool2d", "min", "min_b", "max_b"])
def test_nan_propagates_as_in_the_interpreter(op):
    """NaN in either operand of min/max gives NaN; a tie gives the second operand (signed zeros)."""
    X = alt.placeholder((2, 3, 8, 8), name="X")
    Y = {"relu": lambda: alt.ops.nn.relu(X), "clip": lambda: alt.ops.nn.clip(X, -1.0, 1.0),
         "max_pool2d": lambda: alt.ops.nn.max_pool2d(X, 2),
         "min": lambda: alt.compute(X.shape, lambda *i: alt.min(X[i], 0.5), name="m"),
         "min_b": lambda: alt.compute(X.shape, lambda *i: alt.min(X[i] * -1.0, X[i]), name="mb"),
         "max_b": lambda: alt.compute(X.shape, lambda *i: alt.max(X[i] * 0.0, X[i] * -0.0), name="xb")}[op]()
    f = alt.build(alt.ops.default_schedule(Y), [X, Y])
    x = np.random.default_rng(0).standard_normal(X.shape).astype("f4")
    x[0, 0, 0, :] = np.nan
    x[1, 2, 3, 3] = np.nan
    y = np.empty(Y.shape, "f4")
    f(x, y)
    want = evaluate(Y, {X: x})
    assert np.isnan(want).any()
    np.testing.assert_array_equal(y, want)  # NaN where the interpreter has NaN, equal elsewhere
    np.testing.assert_array_equal(np.signbit(y), np.signbit(want))  # max(0.0, -0.0) is -0.0, as in numpy


@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_integer_division_by_zero_is_zero_in_c_and_the_interpreter(dtype):
    A, B = alt.placeholder((8,), name="A", dtype=dtype), alt.placeholder((8,), name="B", dtype=dtype)
    Q = alt.compute((8,), lambda i: A[i] // B[i], name="Q")
    R = alt.compute((8,), lambda i: A[i] % B[i], name="R")
    f = alt.build(alt.create_schedule([Q, R]), [A, B, Q, R])
    lo = np.iinfo(dtype).min
    a = np.array([7, -7, lo, lo, 5, 0, -9, 9], dtype)
    b = np.array([0, 0, -1, 0, -1, 0, 4, -4], dtype)
    q, r = np.empty(8, dtype), np.empty(8, dtype)
    f(a, b, q, r)  # used to die with SIGFPE
    np.testing.assert_array_equal(q, evaluate(Q, {A: a, B: b}))
    np.testing.assert_array_equal(r, evaluate(R, {A: a, B: b}))
    assert q[0] == 0 and r[0] == 0 and q[2] == lo and q[6] == -3 and r[6] == 3


def test_an_index_read_from_data_never_reads_outside_its_tensor():
    A = alt.placeholder((16,), name="A")
    idx = alt.placeholder((4,), name="I", dtype="int32")
    G = alt.compute((4,), lambda i: A[idx[i]], name="G")
    s = alt.create_schedule(G)
    io, ii = s[G].split(G.op.axis[0], 2)
    s[G].parallel(io)
    f = alt.build(s, [A, idx, G])
    a, g = np.arange(16, dtype="f4"), np.empty(4, "f4")
    f(a, np.array([3, 0, 15, 7], "i4"), g)
    np.testing.assert_array_equal(g, [3, 0, 15, 7])
    for bad in ([1, 2, 3, 2 ** 30], [-1, 0, 0, 0], [0, 16, 0, 0]):  # a segfault or a silent wrong read before
        with pytest.raises(alt.ComputeError, match="index read from the input data is out of bounds"):
            f(a, np.array(bad, "i4"), g)
        with pytest.raises(alt.ComputeError, match="read out of bounds"):
            evaluate(G, {A: a, idx: np.array(bad, "i4")})
