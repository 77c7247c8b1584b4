"""Tier 2: every primitive, alone and combined, agrees with the interpreter on GEMM and conv2d."""
import pytest

import alt
from alt.testing import check_schedule
from conftest import make_conv, make_gemm


def split_factor(s, C, f=8):
    s[C].split(C.axis[0], factor=f)


def split_nparts(s, C):
    s[C].split(C.axis[1], nparts=4)


def split_reduce(s, C):
    s[C].split(C.op.reduce_axis[0], factor=4)


def split_twice(s, C):
    o, i = s[C].split(C.axis[1], factor=7)
    s[C].split(o, factor=3)


def reorder(s, C):
    axes = list(C.axis) + list(C.op.reduce_axis)
    s[C].reorder(*reversed(axes))


def fuse_all_spatial(s, C):
    s[C].fuse(*C.axis)


def fuse_then_split(s, C):
    f = s[C].fuse(*C.axis)
    s[C].split(f, factor=16)


def tile(s, C):
    s[C].tile(C.axis[-2], C.axis[-1], 4, 8)


def vectorize(s, C):
    *_, last = C.axis
    o, i = s[C].split(last, factor=8)
    axes = list(C.axis[:-1]) + [o] + list(C.op.reduce_axis) + [i]
    s[C].reorder(*axes)
    s[C].vectorize(i)


def unroll(s, C):
    o, i = s[C].split(C.axis[0], factor=3)
    s[C].unroll(i)


def parallel(s, C):
    s[C].parallel(C.axis[0])


def parallel_fused(s, C):
    s[C].parallel(s[C].fuse(C.axis[0], C.axis[1]))


def pragma(s, C):
    s[C].pragma(C.op.reduce_axis[0], "unroll", 4)
    s[C].pragma(C.axis[-1], "ivdep")


def cache_write(s, C):
    CC = s.cache_write(C)
    o, i = s[C].split(C.axis[0], factor=4)
    s[CC].compute_at(s[C], o)


def cache_write_tiled(s, C):
    CC = s.cache_write(C)
    xo, yo, xi, yi = s[C].tile(C.axis[-2], C.axis[-1], 3, 8)
    s[C].vectorize(yi)
    s[CC].compute_at(s[C], yo)
    *_, cx, cy = CC.axis
    s[CC].reorder(*CC.op.reduce_axis, cx, cy)
    s[CC].unroll(cx)
    s[CC].vectorize(cy)


def combined(s, C):
    CC = s.cache_write(C)
    a, b = C.axis[-2], C.axis[-1]
    bo, bi = s[C].split(b, nparts=3)
    s[C].reorder(bo, a, bi)
    lead = list(C.axis[:-2])
    s[C].parallel(s[C].fuse(*lead, bo) if lead else bo)
    s[CC].compute_at(s[C], a)
    r0 = CC.op.reduce_axis[0]
    ro, ri = s[CC].split(r0, factor=2)
    s[CC].unroll(ri)


def rfactor(s, C):
    rf = s.rfactor(C, C.op.reduce_axis[0], 3)  # 3 divides neither GEMM's k nor the conv's channels
    R = s[rf]
    *spatial, inner = rf.op.axis
    R.reorder(*spatial, *R.reduce_axis, inner)
    R.vectorize(inner)
    s[C].parallel(C.axis[0])


def rfactor_at(s, C):
    rf = s.rfactor(C, C.op.reduce_axis[-1], 2)
    s[rf].compute_at(s[C], C.axis[-1])


SCHEDULES = [split_factor, split_nparts, split_reduce, split_twice, reorder, fuse_all_spatial, fuse_then_split,
             tile, vectorize, unroll, parallel, parallel_fused, pragma, cache_write, cache_write_tiled, combined,
             rfactor, rfactor_at]


@pytest.mark.parametrize("fn", SCHEDULES, ids=lambda f: f.__name__)
def test_gemm(fn):
    args, C = make_gemm()
    s = alt.create_schedule(C)
    fn(s, C)
    check_schedule(s, args)


@pytest.mark.parametrize("fn", SCHEDULES, ids=lambda f: f.__name__)
def test_conv2d(fn):
    args, Y = make_conv()
    s = alt.create_schedule(Y)
    fn(s, Y)
    check_schedule(s, args)


@pytest.mark.parametrize("where", ["root", "inline", "n", "o", "y", "x.outer", "rc", "ry", "x.inner"])
def test_conv2d_padding_placement(where):
    """The padding stage computed at root, inlined, or at each loop of the convolution."""
    args, Y = make_conv(stride=2, hw=(12, 9))
    s = alt.create_schedule(Y)
    P = s.stage("conv.pad")
    xo, xi = s[Y].split(Y.axis[3], factor=2)
    s[Y].reorder(*Y.axis[:3], *Y.op.reduce_axis, xo, xi)
    if where == "inline":
        P.compute_inline()
    elif where != "root":
        P.compute_at(s[Y], s[Y].vars[where])
    f = check_schedule(s, args)
    if where not in ("root", "inline"):
        assert "allocate conv.pad" in str(f.lowered) and "(stack)" in str(f.lowered)


def test_inline_chain_and_elementwise_ops():
    X = alt.placeholder((3, 4, 5, 6), name="X")
    b = alt.placeholder((4,), name="b")
    Z = alt.ops.relu(alt.ops.bias_add(X, b), name="Z")
    s = alt.ops.default_schedule(Z)
    assert s.stage("X.bias").attach == "inline"
    check_schedule(s, [X, b, Z])


def test_reductions_max_min_and_math():
    A = alt.placeholder((7, 9), name="A")
    k = alt.reduce_axis(9, "k")
    Mx = alt.compute((7,), lambda i: alt.max(A[i, k], axis=k), name="Mx")
    Mn = alt.compute((7,), lambda i: alt.min(alt.exp(A[i, k]) + alt.tanh(A[i, k]), axis=k), name="Mn")
    E = alt.compute((7, 9), lambda i, j: alt.sigmoid(A[i, j]) * alt.sqrt(alt.log(A[i, j] * A[i, j] + 2.0)),
                    name="E")
    s = alt.create_schedule([Mx, Mn, E])
    s[Mx].split(Mx.op.reduce_axis[0], factor=4)
    check_schedule(s, [A, Mx, Mn, E])


@pytest.mark.parametrize("combiner", ["sum", "max", "min"])
@pytest.mark.parametrize("factor", [2, 4, 7, 9])
def test_rfactor_of_every_reduction_replays_from_json(combiner, factor):
    A = alt.placeholder((5, 9), name="A")
    k = alt.reduce_axis(9, "k")
    R = alt.compute((5,), lambda i: getattr(alt, combiner)(A[i, k] * 2.0, axis=k), name="R")
    s = alt.create_schedule(R)
    rf = s.rfactor(R, "k", factor)
    assert rf.shape == (5, factor) and [st.name for st in s.stages] == ["R.rf", "R"]
    i, inner = rf.op.axis
    if factor == 2:
        s[rf].reorder(i, *s[rf].reduce_axis, inner)
        s[rf].vectorize(inner)
    else:
        s[rf].parallel(inner)
    check_schedule(s, [A, R])
    again = alt.Schedule.from_json(s.to_json(), [R])
    assert again.to_json() == s.to_json()


def test_rfactor_refuses_what_it_cannot_split():
    args, C = make_gemm()
    s = alt.create_schedule(C)
    with pytest.raises(alt.ScheduleError, match="'nope' is not one of its reduce axes"):
        s.rfactor(C, "nope", 2)
    with pytest.raises(alt.ScheduleError, match="factor 1 must be a whole number from 2 to the extent"):
        s.rfactor(C, C.op.reduce_axis[0], 1)
    s[C].split(C.axis[0], factor=2)
    with pytest.raises(alt.ScheduleError, match="must come before any other primitive"):
        s.rfactor(C, C.op.reduce_axis[0], 2)
    E = alt.compute(C.shape, lambda i, j: C[i, j] + 1.0, name="E")
    with pytest.raises(alt.ScheduleError, match="rfactor of 'E': it is not a reduction"):
        alt.create_schedule(E).rfactor(E, "k", 2)


@pytest.mark.parametrize("dtype", ["float64", "int32", "int64"])
def test_other_dtypes(dtype):
    args, C = make_gemm(9, 10, 11, dtype=dtype)
    s = alt.ops.default_schedule(C)
    check_schedule(s, args, rtol=1e-12 if dtype != "float64" else 1e-10, atol=0)


def test_integer_floor_division_matches_python_semantics():
    A = alt.placeholder((10,), name="A", dtype="int32")
    D = alt.compute((10,), lambda i: (A[i] - 20) // 3 + (A[i] - 20) % 3 + alt.cast("int32", i) // 4, name="D")
    check_schedule(alt.create_schedule(D), [A, D], atol=0)


def test_select_guards_out_of_range_reads_in_c():
    A = alt.placeholder((8,), name="A")
    S = alt.compute((8,), lambda i: alt.select(i > 0, A[i - 1], alt.select(i < 0, A[i + 100], 0.0)), name="S")
    check_schedule(alt.create_schedule(S), [A, S])


def test_nested_compute_at_padding_inside_cached_conv():
    """pad computed at a reduction loop of conv.local, which is itself computed at conv."""
    args, Y = make_conv(n=1, c=6, hw=(10, 11), o=8, stride=2, pad=2)
    s = alt.create_schedule(Y)
    alt.ops.conv2d_tiled(s, Y, tile_o=3, schedule_pad=False)
    local = s.stage("conv.local")
    s.stage("conv.pad").compute_at(local, local.vars["rc"])
    f = check_schedule(s, args)
    text = str(f.lowered)
    assert text.index("allocate conv.local") < text.index("allocate conv.pad")


def test_float_constant_folding_in_single_precision():
    X = alt.placeholder((4,), name="X")
    Y = alt.compute((4,), lambda i: X[i] + (alt.cast("float32", 0.1) + 0.2) * 3.0, name="Y")
    check_schedule(alt.create_schedule(Y), [X, Y], rtol=0, atol=0)


@pytest.mark.parametrize("shape,tile", [((2, 3, 40), 2), ((7, 19), 3), ((4, 64), 4)])
def test_stages_read_by_several_stages_computed_in_one_row_tile(shape, tile):
    """Softmax's row maximum is read by its exponentials, which its sum and output read: with
    compute_at into the output's row tile (TVM allows a stage computed inside a loop that all its
    readers are computed in), every stage runs in one parallel loop, each tile's region once."""
    from alt.ops.default import row_fusable, row_fused
    X = alt.placeholder(shape, name="X")
    Y = alt.ops.nn.softmax(X)
    s = alt.create_schedule(Y)
    assert row_fusable(s, Y)
    row_fused(s, Y, tile)
    f = check_schedule(s, [X, Y])
    body = f.source[f.source.index("alt_main"):]
    assert body.count("omp parallel") == 1 and body.count("expf(") == 1  # each exponential once
    text = str(f.lowered)
    for name in ("softmax.max", "softmax.exp", "softmax.sum"):
        assert f"allocate {name}" in text  # a tile of its own, inside the parallel loop


@pytest.mark.parametrize("kind,shape", [("softmax", (3, 70)), ("softmax", (2, 5, 300)), ("layer_norm", (40, 96)),
                                        ("layer_norm", (3, 1000))])
def test_the_default_schedule_row_fuses_softmax_and_layer_norm(kind, shape):
    """Untuned, softmax and layer norm run as one parallel loop over row tiles (row_fused, with
    row_fused_default's tile), right by the interpreter; not when the output has a layout of its own."""
    from alt.ops.default import row_fused_default
    X = alt.placeholder(shape, name="X")
    args = [X] + ([alt.placeholder(shape[-1:], name=n) for n in "gb"] if kind == "layer_norm" else [])
    Y = getattr(alt.ops.nn, kind)(*args)
    lanes = alt.target.current().lanes()
    tile, vectors = row_fused_default(Y)
    assert tile in (1, 2, 4, 8) and vectors == (4 if shape[-1] >= 64 * lanes else 2 if shape[-1] >= 32 * lanes else 1)
    f = check_schedule(alt.ops.default_schedule(Y), args + [Y])
    body = f.source[f.source.index("alt_main"):]
    assert body.count("omp parallel") == 1
    s = alt.create_schedule(Y)
    s.layout(Y).split(len(shape) - 1, 2)  # laid out: the per-stage default, still right
    f = check_schedule(alt.ops.default_schedule(s), args + [Y])
    assert f.source[f.source.index("alt_main"):].count("omp parallel") > 1


def test_compute_at_a_stage_some_reader_computes_outside_is_refused():
    X = alt.placeholder((6, 16), name="X")
    Y = alt.ops.nn.softmax(X)
    s = alt.create_schedule(Y)
    M, Ex, S = (s.stage(f"softmax.{n}") for n in ("max", "exp", "sum"))
    with pytest.raises(alt.ScheduleError, match=r"'softmax.exp' to stage 'softmax': it is also read by "
                                                r"\[softmax.sum\], which is not computed inside 'softmax'"):
        Ex.compute_at(s[Y], Y.axis[0])
    with pytest.raises(alt.ScheduleError, match=r"'softmax' does not read 'softmax.max', and its readers "
                                                r"\[softmax.exp\] are not all computed inside 'softmax'"):
        M.compute_at(s[Y], Y.axis[0])
    S.compute_at(s[Y], Y.axis[0])
    Ex.compute_at(s[Y], Y.axis[0])
    M.compute_at(s[Y], Y.axis[0])
    check_schedule(s, [X, Y])
    S.compute_root()  # afterwards: the sum, at root, would read exponentials that exist only in the rows
    with pytest.raises(alt.BuildError, match=r"'softmax.exp' is read before it is computed"):
        alt.build(s, [X, Y])
    S.compute_at(s[Y], Y.axis[0])
    Ex.compute_at(s[Y], Y.axis[1])  # inside the output's column loop: the sum, outside it, cannot read it
    with pytest.raises(alt.BuildError, match=r"'softmax.exp' is computed at softmax.i1, but its reader "
                                             r"'softmax.sum' is computed at softmax.i0; compute 'softmax.sum' "
                                             r"inside that loop too, or 'softmax.exp' at root"):
        alt.build(s, [X, Y])
