"""Layout primitives: data, numpy conversion, lowering of re-laid tensors, errors."""
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import alt
from alt.layout import Layout
from alt.testing import check_schedule
from codegen import CRenderer
from conftest import make_conv, make_gemm

NCHW16C = (0, 1, 3, 4, 2)


@pytest.mark.parametrize("steps,shape", [
    ([("split", 1, 16), ("reorder",) + NCHW16C], (2, 2, 5, 6, 16)),
    ([("reorder", 0, 2, 3, 1)], (2, 5, 6, 32)),
    ([("pad", 3, 1, 2), ("split", 3, 3)], (2, 32, 5, 3, 3)),
    ([("fuse", 2, 3)], (2, 32, 30)),
    ([("pad", 2, 1, 2), ("unfold", 2, 4, 2)], (2, 32, 3, 4, 6)),
    ([("unfold", 3, 4, 3)], (2, 32, 5, 2, 4)),
])
def test_numpy_round_trip(steps, shape):
    lay = Layout((2, 32, 5, 6))
    for verb, *args in steps:
        lay = getattr(lay, verb)(*args)
    assert lay.shape == shape
    x = np.random.default_rng(0).standard_normal((2, 32, 5, 6)).astype("f4")
    p = lay.to_physical(x)
    assert p.shape == shape
    np.testing.assert_array_equal(lay.to_logical(p), x)
    assert Layout.from_list((2, 32, 5, 6), json.loads(json.dumps(lay.to_list()))) == lay


def test_nchw16c_matches_the_reshape_transpose():
    x = np.arange(2 * 32 * 3 * 4).reshape(2, 32, 3, 4)
    p = Layout(x.shape).split(1, 16).reorder(*NCHW16C).to_physical(x)
    np.testing.assert_array_equal(p, x.reshape(2, 2, 16, 3, 4).transpose(0, 1, 3, 4, 2))


def test_layout_errors():
    lay = Layout((4, 10), what="'X'")
    with pytest.raises(alt.ScheduleError, match=r"factor 3 does not divide dimension 1 of extent 10; .*pad\(dim, 0, 2\)"):
        lay.split(1, 3)
    with pytest.raises(alt.ScheduleError, match=r"\[1, 1\] is not a permutation of the dimensions 0..1"):
        lay.reorder(1, 1)
    with pytest.raises(alt.ScheduleError, match="no window overlap"):
        lay.unfold(1, 2, 2)
    with pytest.raises(alt.ScheduleError, match="do not fit dimension 1"):
        lay.unfold(1, 11, 3)
    with pytest.raises(alt.ScheduleError, match="dimension 2 does not exist"):
        lay.pad(2, 1, 1)
    with pytest.raises(alt.ScheduleError, match="not adjacent"):
        Layout((2, 3, 4)).fuse(0, 2)


def _conv_with(layouts, stride=1, pad=1, c=32, o=32, hw=(8, 8)):
    args, Y = make_conv(n=1, c=c, hw=hw, o=o, k=3, stride=stride, pad=pad)
    X, W, _ = args
    s = alt.create_schedule(Y)
    named = {"X": X, "W": W, "Y": Y, "P": s.stage("conv.pad").tensor if pad else None}
    for name, steps in layouts.items():
        view = s.layout(named[name])
        for verb, *a in steps:
            getattr(view, verb)(*a)
    return s, args, Y


LAYOUTS = {
    "NCHW16c": {"X": [("split", 1, 16), ("reorder",) + NCHW16C], "Y": [("split", 1, 16), ("reorder",) + NCHW16C],
                "W": [("split", 0, 16), ("split", 2, 16), ("reorder", 0, 2, 4, 5, 3, 1)]},
    "NHWC": {"X": [("reorder", 0, 2, 3, 1)], "Y": [("reorder", 0, 2, 3, 1)], "P": [("reorder", 0, 2, 3, 1)]},
    "HWON": {"Y": [("reorder", 2, 3, 1, 0)], "W": [("reorder", 2, 3, 1, 0)]},
    "tiled": {"Y": [("split", 2, 4), ("split", 4, 2), ("split", 1, 8), ("reorder", 0, 3, 5, 1, 4, 6, 2)]},
    "padded": {"Y": [("pad", 3, 0, 2), ("split", 3, 5)], "X": [("pad", 1, 1, 1)]},
    "unfold": {"P": [("unfold", 2, 6, 4)]},
}


@pytest.mark.parametrize("name", LAYOUTS)
def test_conv_under_layouts(name):
    s, args, Y = _conv_with(LAYOUTS[name])
    st_ = s[Y]
    st_.vectorize(st_.axis[-1]) if not st_.op.reduce_axis else None
    check_schedule(s, args)


def test_loops_follow_the_output_layout_and_schedule_on_physical_axes():
    s, args, Y = _conv_with(LAYOUTS["NCHW16c"])
    st_ = s[Y]
    assert [a.name for a in st_.axis] == ["n", "o.outer", "y", "x", "o.inner"]
    n, oo, y, x, oi = st_.axis
    st_.reorder(n, oo, y, x, *st_.reduce_axis, oi)
    st_.vectorize(oi)
    st_.parallel(oo)
    f = check_schedule(s, args)
    text = str(f.lowered)
    assert "W[o.outer, rc // 16, ry, rx, rc % 16, o.inner]" in text
    assert "conv[n, o.outer, y, x, o.inner]" in text


def test_unfold_gives_each_output_tile_one_contiguous_input_tile():
    """Output rows in tiles of 2 (stride 2, kernel 3): input windows of 2*2 + 1 = 5 rows, stride 4."""
    s, args, Y = _conv_with({"P": [("unfold", 2, 5, 4)]}, stride=2, hw=(8, 8))
    yo, yi = s[Y].split(s[Y].axis[2], factor=2)
    f = check_schedule(s, args)
    text = str(f.lowered)
    assert "conv.pad[n, rc, y.outer, y.inner * 2 + ry" in text, text
    assert "min(" not in text.split("parallel")[-1].split("conv[")[-1]


def test_cache_write_of_a_relaid_output_is_laid_out_like_it():
    s, args, Y = _conv_with(LAYOUTS["NCHW16c"])
    CC = s.cache_write(Y)
    assert CC.shape == (1, 2, 8, 8, 16)
    n, oo, y, x, oi = s[Y].axis
    s[Y].vectorize(oi)
    s[CC].compute_at(s[Y], x)
    cn, coo, cy, cx, coi = s[CC].axis
    s[CC].reorder(*s[CC].reduce_axis, coi)
    s[CC].vectorize(coi)
    f = check_schedule(s, args)
    assert "conv[n, o.outer, y, x, o.inner] = conv.local[n, 0, 0, 0, o.inner]" in str(f.lowered)


def test_padded_output_of_a_reduction_keeps_zeros_and_max_identity():
    A = alt.placeholder((5, 7), name="A")
    k = alt.reduce_axis(7, "k")
    M = alt.compute((5,), lambda i: alt.max(A[i, k], axis=k), name="M")
    s = alt.create_schedule(M)
    s.layout(M).pad(0, 1, 2)
    f = check_schedule(s, [A, M])
    a = np.random.default_rng(0).uniform(-2, -1, (5, 7)).astype("f4")
    m = np.full(8, 7.0, "f4")
    f(a, m)
    assert m[0] == 0 and m[-1] == 0 and np.all(m[1:6] < -0.9)


def test_layout_json_round_trip_gives_identical_source():
    s, args, Y = _conv_with(LAYOUTS["NCHW16c"])
    s[Y].reorder(*s[Y].reduce_axis, s[Y].axis[-1])
    s[Y].vectorize(s[Y].axis[-1])
    text = s.to_json()
    fresh_args, fresh_Y = make_conv(n=1, c=32, hw=(8, 8), o=32, k=3, stride=1, pad=1)
    replay = alt.Schedule.from_json(text, [fresh_Y])
    assert CRenderer().render(alt.lower(replay, fresh_args))[0] == CRenderer().render(alt.lower(s, args))[0]


def test_layout_schedule_errors():
    args, C = make_gemm(8, 8, 8)
    s = alt.create_schedule(C)
    s[C].split(C.axis[0], factor=2)
    with pytest.raises(alt.ScheduleError, match="must come before loop primitives"):
        s.layout(C).reorder(1, 0)
    args, Y = make_conv()
    s = alt.create_schedule(Y)
    P = s.stage("conv.pad")
    s.layout(P.tensor).reorder(0, 2, 3, 1)
    with pytest.raises(alt.ScheduleError, match="only tensors computed at root can be re-laid"):
        P.compute_at(s[Y], Y.axis[0])
    other = alt.placeholder((3,), name="Q")
    with pytest.raises(alt.ScheduleError, match="is not a tensor of this schedule"):
        s.layout(other)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_layouts_on_conv(data):
    args, Y = make_conv(n=1, c=4, hw=(6, 5), o=4, k=3, stride=data.draw(st.integers(1, 2)), pad=1)
    s = alt.create_schedule(Y)
    for t in [args[0], args[1], Y, s.stage("conv.pad").tensor]:
        view = s.layout(t)
        for _ in range(data.draw(st.integers(0, 3))):
            shape = view.shape
            verb = data.draw(st.sampled_from(["split", "reorder", "fuse", "pad"]))
            d = data.draw(st.integers(0, len(shape) - 1))
            if verb == "split":
                divisors = [f for f in range(1, shape[d] + 1) if shape[d] % f == 0]
                view.split(d, data.draw(st.sampled_from(divisors)))
            elif verb == "reorder":
                view.reorder(*data.draw(st.permutations(range(len(shape)))))
            elif verb == "fuse" and d + 1 < len(shape):
                view.fuse(d, d + 1)
            elif verb == "pad":
                view.pad(d, data.draw(st.integers(0, 2)), data.draw(st.integers(0, 2)))
    st_ = s[Y]
    leaves = st_.leaves
    if data.draw(st.booleans()):
        st_.reorder(*[v for v in leaves if v.kind == "spatial"][:-1], *st_.reduce_axis,
                    [v for v in leaves if v.kind == "spatial"][-1])
        st_.vectorize(st_.leaves[-1])
    check_schedule(s, args)


def test_arrays_handed_to_compiled_code_are_cache_line_aligned():
    from alt import buffers
    from alt.layout import Layout
    for n in (3, 1000, 100_000):
        a = buffers.empty((n, 2))
        assert a.ctypes.data % 64 == 0 and a.shape == (n, 2) and a.flags.c_contiguous
        b = np.arange(n * 2, dtype=np.float32)[1:]  # a view 4 bytes in: never aligned
        c = buffers.aligned(b)
        assert c.ctypes.data % 64 == 0 and np.array_equal(c, b)
    x = np.random.default_rng(0).standard_normal((6, 32)).astype(np.float32)
    lay = Layout((6, 32), ["i", "j"]).split(1, 16).reorder(1, 0, 2)
    assert lay.to_physical(x).ctypes.data % 64 == 0 and lay.to_logical(lay.to_physical(x)).ctypes.data % 64 == 0
