"""Tier 1: the pure-Python IR (no compiler)."""
import pytest

import alt
from alt import arith


def test_dtype_inference_and_python_scalars():
    A = alt.placeholder((4,), name="A")
    e = A[0] * 2 + 1.5
    assert e.dtype == "float32"
    I = alt.placeholder((4,), name="I", dtype="int32")
    assert (I[1] // 2).dtype == "int32"


def test_mixed_dtypes_are_rejected_with_advice():
    A = alt.placeholder((4,), name="A")
    B = alt.placeholder((4,), name="B", dtype="float64")
    with pytest.raises(alt.ComputeError, match=r"mixes float32 .* float64 .*alt.cast"):
        A[0] + B[0]
    with pytest.raises(alt.ComputeError, match="floor division"):
        alt.compute((4,), lambda i: i / 2)


def test_eq_is_identity_for_containers_but_builds_expressions():
    i = alt.reduce_axis(4, "i")
    j = alt.reduce_axis(4, "j")
    assert i in [j, i] and {i: 1}[i] == 1
    assert str(i == j) == "i == j"
    with pytest.raises(alt.ComputeError, match="Python bool"):
        bool(i < j)


def test_compute_names_axes_after_lambda_parameters():
    A = alt.placeholder((3, 4), name="A")
    T = alt.compute((3, 4), lambda row, col: A[row, col] * 2, name="T")
    assert [a.name for a in T.axis] == ["row", "col"]
    assert T.op.input_tensors == (A,)


def test_compute_body_checks():
    A = alt.placeholder((3, 4), name="A")
    k = alt.reduce_axis(4, "k")
    with pytest.raises(alt.ComputeError, match="takes 1 index arguments but the shape has 2"):
        alt.compute((3, 4), lambda i: A[i, 0])
    with pytest.raises(alt.ComputeError, match="must be the whole body"):
        alt.compute((3,), lambda i: alt.sum(A[i, k], axis=k) + 1)
    with pytest.raises(alt.ComputeError, match="reduce axis 'k' does not belong"):
        alt.compute((3,), lambda i: A[i, k])
    with pytest.raises(alt.ComputeError, match="indexed with 1 indices"):
        alt.compute((3,), lambda i: A[i])
    with pytest.raises(alt.ComputeError, match="shape"):
        alt.placeholder((3, 0), name="Z")
    with pytest.raises(alt.ComputeError, match="dtype 'float16' is not supported"):
        alt.placeholder((3,), name="Z", dtype="float16")


def test_simplify_cancels_linear_terms():
    i, j = alt.Var("i"), alt.Var("j")
    e = arith.simplify((i * 8 + j) - i * 8)
    assert e is j
    assert str(arith.simplify((i + 3) * 4 - 2)) == "i * 4 + 10"
    assert arith.bounds(i * 4 + j % 4, {i: (0, 7), j: (0, 100)}) == (0, 31)


def _value(e, env):
    if isinstance(e, alt.expr.Const):
        return e.value
    if isinstance(e, alt.expr.Var):
        return env[e.name]
    import operator
    ops = {"+": operator.add, "-": operator.sub, "*": operator.mul, "//": operator.floordiv, "%": operator.mod,
           "min": min, "max": max}
    return ops[e.op](_value(e.a, env), _value(e.b, env))


def test_div_mod_moves_the_division_out_of_the_inner_term_and_stays_exact():
    """(a*16 + r) // 32 with r < 16 (a tile of 16 columns in a layout of 32-column blocks) is a // 2
    and its remainder (a % 2)*16 + r: no division left on r, the vectorized loop. Exact everywhere."""
    f, r = alt.Var("f"), alt.Var("r")
    ranges = {f: (0, 95), r: (0, 15)}
    e = (f % 32) * 16 + r
    q, m = arith.div_mod(e, 32, ranges)
    assert (str(q), str(m)) == ("f % 32 // 2", "f % 32 % 2 * 16 + r")
    rng = __import__("numpy").random.default_rng(0)
    for coefs, const, fs in (((16, 1), 0, 32), ((8, 1), 3, 64), ((12, 1), 0, 48), ((16, 4), 2, 32), ((3, 1), 1, 9)):
        g, lo = alt.Var("g"), alt.Var("lo")
        ranges = {g: (0, 40), lo: (0, 3)}
        e = arith.simplify(g * coefs[0] + lo * coefs[1] + const)
        q, m = arith.div_mod(e, fs, ranges)
        for _ in range(200):
            env = {"g": int(rng.integers(0, 41)), "lo": int(rng.integers(0, 4))}
            v = _value(e, env)
            assert (_value(q, env), _value(m, env)) == (v // fs, v % fs), (coefs, const, fs, env)


def test_simplify_merges_quotient_and_remainder_back():
    """(x // f) * (k*f) + (x % f) * k is x * k: a fused loop split again by a layout, or two fused
    loops that index one contiguous run, index it directly. Only exact pairs merge."""
    f, c = alt.Var("f"), alt.Var("c")
    assert str(arith.simplify((f // 16) * 16 + f % 16)) == "f"
    assert str(arith.simplify(c + (f // 13 // 5) * 975 + (f // 13 % 5) * 195 + (f % 13) * 15)) == "c + f * 15"
    assert str(arith.simplify((f // 16) * 32 + (f % 16) * 2 - f * 2)) == "0"
    kept = arith.simplify((f // 16) * 15 + f % 16)  # not the identity: left as it is
    assert "//" in str(kept) and "%" in str(kept)
    rng = __import__("numpy").random.default_rng(1)
    for e0 in ((f // 7) * 21 + (f % 7) * 3 + c, (f // 4 // 3) * 24 + (f // 4 % 3) * 8 + (f % 4) * 2):
        e = arith.simplify(e0)
        for _ in range(300):
            env = {"f": int(rng.integers(0, 500)), "c": int(rng.integers(-5, 5))}
            assert _value(e, env) == _value(e0, env)


def test_lower_prints_the_documented_loop_names(gemm):
    args, C = gemm
    s = alt.create_schedule(C)
    io, ii = s[C].split(C.axis[0], factor=8)
    assert (io.name, ii.name) == ("i.outer", "i.inner")
    f = s[C].fuse(io, ii)
    assert f.name == "i.outer.i.inner.fused"
    text = str(alt.lower(s, args))
    assert "for i.outer.i.inner.fused in 0.." in text and "C[" in text


def test_simplify_remembers_linear_forms_without_changing_any_result():
    """simplify remembers the linear form of each sum it builds, so an enclosing node does not walk
    it again; the results are exactly those of simplifying without that memory."""
    from alt import expr as E
    rng = __import__("numpy").random.default_rng(2)
    xs = [alt.Var(n) for n in "abcd"]

    def rand(depth):
        if depth == 0 or rng.random() < 0.2:
            return xs[rng.integers(4)] if rng.random() < 0.7 else E.const(int(rng.integers(-9, 10)), "int32")
        op = ["+", "-", "*", "//", "%", "+", "*"][rng.integers(7)]
        a = rand(depth - 1)
        b = E.const(int(rng.integers(1, 9)), "int32") if op in ("*", "//", "%") and rng.random() < 0.8 else \
            rand(depth - 1)
        if op in ("//", "%") and not isinstance(b, E.Const):
            b = E.const(4, "int32")
        return E.Binary(op, a, b, "int32")

    for _ in range(400):
        e = rand(6)
        assert str(arith.simplify(e)) == str(E.transform(e, arith._simplify_node))
    assert getattr(arith._known, "forms", None) is None  # the memory lasts one call


def _random_index(rng, xs, depth):
    from alt import expr as E
    if depth == 0 or rng.random() < 0.25:
        return xs[rng.integers(len(xs))] if rng.random() < 0.8 else E.const(int(rng.integers(0, 9)), "int32")
    op = ["+", "*", "//", "%", "+", "-"][rng.integers(6)]
    a = _random_index(rng, xs, depth - 1)
    if op in ("*", "//", "%"):
        return E.Binary(op, a, E.const(int(rng.integers(1, 17)), "int32"), "int32")
    return E.Binary(op, a, _random_index(rng, xs, depth - 1), "int32")


def test_a_session_reuses_what_simplify_made_of_a_node_and_changes_no_result():
    """Inside arith.session() (one lowering) simplify and simplify_ranges keep what they made of
    each node: asked again about a node, or a tree that shares it, they reuse it. The results are
    those of simplifying without the session, and the memory ends with the block."""
    rng = __import__("numpy").random.default_rng(3)
    xs = [alt.Var(n) for n in "abcd"]
    ranges = {x: (0, int(rng.integers(1, 40))) for x in xs[:3]}  # d unbounded
    shared = [_random_index(rng, xs, 4) for _ in range(20)]
    trees = [shared[rng.integers(20)] * int(rng.integers(1, 9)) + shared[rng.integers(20)] // 4 for _ in range(200)]
    plain = [(str(arith.simplify(e)), str(arith.simplify_ranges(e, ranges))) for e in trees]
    with arith.session():
        within = [(str(arith.simplify(e)), str(arith.simplify_ranges(e, ranges))) for e in trees]
        first = arith.simplify_ranges(trees[0], ranges)
        assert arith.simplify_ranges(trees[0], ranges) is first  # reused, not made again
        assert arith.simplify(first) is first  # a result is its own simplification
        # trees made of results (a layout's forward map of simplified indices): results are kept as
        # their own simplification, and what is made of the trees is what plain simplify makes
        outs = [arith.simplify_ranges(e, ranges) for e in trees[:60]]
        second = [o // 16 + outs[rng.integers(60)] * 3 - o % 5 for o in outs]
        within2 = [(str(arith.simplify(e)), str(arith.simplify_ranges(e, ranges))) for e in second]
    assert within == plain
    assert within2 == [(str(arith.simplify(e)), str(arith.simplify_ranges(e, ranges))) for e in second]
    assert arith._known.memo is None and arith._known.forms is None and arith._known.keys is None
    assert arith.simplify_ranges(trees[0], ranges) is not first  # outside a session: made afresh
    with arith.session():  # structural keys are kept too: the same keys as made afresh
        kept = [arith.skey(e) for e in trees + trees]
    assert kept == [arith.skey(e) for e in trees + trees]


def test_transform_leaves_the_kept_node_types_unvisited_below_the_root():
    """transform(..., keep=types): nodes of those types below the root are kept without calling fn
    (simplification and lowering pass the leaves, half the nodes they visit); by default fn sees every
    node, and a shared node is rebuilt once."""
    from alt import expr as E
    x = alt.Var("x")
    two = E.const(2, "int32")
    e = (x + two) * (x + two)
    seen = []

    def bump(n):
        seen.append(type(n).__name__)
        return E.const(n.value + 1, n.dtype) if isinstance(n, E.Const) else None
    assert str(E.transform(e, bump)) == "(x + 3) * (x + 3)"
    assert sorted(seen) == ["Binary", "Binary", "Binary", "Const", "Var"]  # a shared node once
    seen.clear()
    assert E.transform(e, bump, keep=(E.Const, E.Var)) is e  # nothing below the root changed
    assert seen == ["Binary", "Binary", "Binary"]
    assert str(E.transform(two, bump, keep=(E.Const,))) == "3"  # the root itself is always visited


def test_flat_linear_is_the_linear_form_of_the_simplified_flat_index():
    """The cost model reads an access's flat index as a linear form (search.features); flat_linear
    builds it without simplifying the flat sum node by node, with the same terms, quotient and
    remainder pairs across dimensions merged (an NCHW[16]c channel c // 16, c % 16 is c)."""
    from alt import expr as E
    rng = __import__("numpy").random.default_rng(4)
    xs = [alt.Var(n) for n in "abcd"]
    for _ in range(300):
        ndim = int(rng.integers(1, 5))
        shape = [int(rng.integers(1, 20)) for _ in range(ndim)]
        idx = [arith.simplify(_random_index(rng, xs, 3)) for _ in range(ndim)]
        terms, c = arith.linear(arith.flat_index(shape, idx))
        got, gc = arith.flat_linear(shape, idx)
        assert gc == c
        assert {k: v[1] for k, v in got.items()} == {k: v[1] for k, v in terms.items()}, (shape, idx)
    c, f = alt.Var("c"), alt.Var("f")
    assert {v[1] for v in arith.flat_linear((4, 16), [c // 16, c % 16])[0].values()} == {1}
    merged, _ = arith.flat_linear((7, 5, 13), [f // 13 // 5, f // 13 % 5, f % 13])  # two merges, in a chain
    assert [(str(a), k) for a, k in merged.values()] == [("f", 1)]
    assert isinstance(next(iter(merged.values()))[0], E.Var)


def test_position_finds_an_expression_by_identity_without_building_comparisons(monkeypatch):
    """Loops are looked up by identity: `list.index` would build a symbolic == for every loop it
    passes (most of a candidate's scheduling time once) and match a different loop of the same name."""
    from alt.expr import Expr, IterVar, position
    a, b, c = IterVar("i", 4, "spatial"), IterVar("i", 4, "spatial"), IterVar("j", 8, "reduce")
    monkeypatch.setattr(Expr, "__eq__", lambda self, other: pytest.fail("built a comparison"))
    assert position([a, b, c], b) == 1 and position([a, b, c], c) == 2 and position([a, c], b) is None
    A = alt.placeholder((4, 6), name="A")
    T = alt.compute((4, 6), lambda i, j: A[i, j] * 2.0, name="T")
    st = alt.create_schedule(T)[T]  # split, reorder and fuse find their loops the same way
    st.reorder(*reversed(st.leaves))
    outer, _ = st.split(st.leaves[0], 2)
    st.fuse(outer, st.leaves[1])
    assert [v.name for v in st.leaves] == ["j.outer.j.inner.fused", "i"]
