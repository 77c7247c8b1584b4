"""Winograd convolution F(m x m, 3 x 3): the transforms, the compute definition and its schedule
against PyTorch, bad input, and the lowering rule that makes its select chains cheap."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import alt
from alt.errors import AltError
from alt.ops import winograd as W
from alt.target import current


def _torch_conv(x, w, padding):
    return F.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding=padding).numpy()


@pytest.mark.parametrize("m", [2, 4])
def test_the_one_dimensional_transform_is_a_correlation(m):
    at, g, bt = W.matrices(m)
    rng = np.random.default_rng(m)
    d, k = rng.standard_normal(m + 2), rng.standard_normal(3)
    want = np.array([d[i:i + 3] @ k for i in range(m)])
    np.testing.assert_allclose(at @ ((g @ k) * (bt @ d)), want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("m", [2, 4])
@pytest.mark.parametrize("padding", [0, 1, 2])
def test_the_compute_definition_matches_torch(m, padding):
    rng = np.random.default_rng(padding)
    x = rng.standard_normal((2, 5, 9, 7)).astype("f4")  # partial tiles in both directions
    w = rng.standard_normal((6, 5, 3, 3)).astype("f4")
    X = alt.placeholder(x.shape, name="X")
    U = alt.placeholder(((m + 2) ** 2, 6, 5), name="U")
    Y = W.conv2d_winograd(X, U, m, padding=padding)
    f = alt.build(alt.ops.default_schedule(Y), [X, U, Y])
    y = np.empty(Y.shape, "f4")
    f(x, W.winograd_weight(w, m), y)
    want = _torch_conv(x, w, padding)
    assert y.shape == want.shape
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
    # the reference interpreter too (its arms' masks vary along the positions, their reads along channels)
    from alt.interp import evaluate
    ref = evaluate(Y, {X: x, U: W.winograd_weight(w, m)})
    np.testing.assert_allclose(ref, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


@pytest.mark.parametrize("layout", ["blocked", "NHWC"])
@pytest.mark.parametrize("m,size", [(2, 9), (4, 10), (4, 8)])
def test_the_schedule_matches_torch_with_a_fused_epilogue(layout, m, size):
    lanes = current().lanes("float32")
    c, k = 2 * lanes, 4 * lanes
    lay = f"NCHW{2 * lanes}c" if layout == "blocked" else "NHWC"
    rng = np.random.default_rng(size)
    x = rng.standard_normal((1, c, size, size)).astype("f4")
    w = rng.standard_normal((k, c, 3, 3)).astype("f4")
    b = rng.standard_normal(k).astype("f4")
    X, B = alt.placeholder(x.shape, name="X"), alt.placeholder((k,), name="b")
    U = alt.placeholder(((m + 2) ** 2, k, c), name="U")
    Y = W.conv2d_winograd(X, U, m)
    Z = alt.ops.relu(alt.ops.bias_add(Y, B), name="Z")
    s = alt.create_schedule(Z)
    W.schedule_winograd(s, Y, layout=lay, out=Z)
    f = alt.build(s, [X, U, B, Z])
    z = np.empty(f.pack(Z, np.zeros(Z.shape, "f4")).shape, "f4")
    f(f.pack(X, x), f.pack(U, W.winograd_weight(w, m)), b, z)
    want = np.maximum(_torch_conv(x, w, 1) + b[None, :, None, None], 0)
    np.testing.assert_allclose(f.unpack(Z, z), want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
    assert "?" not in f.source.split("alt_main")[-1].split("#pragma omp simd")[-1].split("}")[0]


def test_bad_input_is_a_clear_error():
    X = alt.placeholder((1, 8, 6, 6), name="X")
    with pytest.raises(AltError, match="m=3"):
        W.conv2d_winograd(X, alt.placeholder((25, 8, 8), name="U"), 3)
    with pytest.raises(AltError, match=r"expected \[36, K, 8\]"):
        W.conv2d_winograd(X, alt.placeholder((36, 8, 4), name="U"), 4)
    with pytest.raises(AltError, match="padding=3"):
        W.conv2d_winograd(X, alt.placeholder((16, 8, 8), name="U"), 2, padding=3)
    with pytest.raises(AltError, match=r"\(O, I, 3, 3\)"):
        W.winograd_weight(np.zeros((8, 8, 5, 5)), 2)
    Y = W.conv2d_winograd(X, alt.placeholder((16, 8, 8), name="U"), 2)
    with pytest.raises(AltError, match="NCHW"):
        W.schedule_winograd(alt.create_schedule(Y), Y, layout="NCHW")


def test_eligibility_and_the_default_tile():
    assert W.eligible((1, 1), (1, 1), (1, 1), 1, (3, 3))
    assert not W.eligible((2, 2), (1, 1), (1, 1), 1, (3, 3))
    assert not W.eligible((1, 1), (1, 1), (2, 2), 1, (3, 3))
    assert not W.eligible((1, 1), (1, 1), (1, 1), 4, (3, 3))
    assert not W.eligible((1, 1), (1, 0), (1, 1), 1, (3, 3))
    assert not W.eligible((1, 1), (0, 0), (1, 1), 1, (1, 1))
    assert W.default_tile(56, 56) == 4 and W.default_tile(28, 28) == 4 and W.default_tile(14, 14) == 2
    lanes = current().lanes("float32")
    assert W.winograd_layout("NHWC", lanes, lanes) == 0
    assert W.winograd_layout(f"NCHW{lanes}c", 4 * lanes, lanes) == lanes
    assert W.winograd_layout("NCHW", 4 * lanes, lanes) is None
    assert W.winograd_layout(f"NCHW2h{lanes}c", 4 * lanes, lanes) is None
    assert W.winograd_layout("NHWC", lanes + 1, lanes) is None


def _vector_select_store(two):
    """A vectorized store of relu(select chain on an outer index), or of the sum of two unrelated
    such selects."""
    A = alt.placeholder((4, 16), name="A")

    def body(i, j):
        sel = alt.select(i == 0, A[i, j] * 2.0, alt.select(i == 1, A[i, j] + 1.0, A[i, j] - 3.0))
        other = alt.select(i == 2, A[i, j], A[i, j] * 0.5)
        return alt.ops.nn.E.max_(sel + other if two else sel, alt.ops.nn.E.const(0.0, "float32"))
    C = alt.compute((4, 16), body, name="C")
    s = alt.create_schedule(C)
    s[C].vectorize(C.axis[1])
    a = np.random.default_rng(0).standard_normal((4, 16)).astype("f4")
    i = np.arange(4)[:, None]
    sel = np.where(i == 0, a * 2, np.where(i == 1, a + 1, a - 3))
    want = np.maximum(sel + np.where(i == 2, a, a * 0.5) if two else sel, 0)
    return s, A, C, a, want


@pytest.mark.parametrize("two", [False, True])
def test_a_select_chain_under_arithmetic_leaves_the_vector_loop(two):
    s, A, C, a, want = _vector_select_store(two)
    low = str(alt.lower(s, [A, C]))
    vector_loops = low.count("vectorize")
    assert vector_loops == (1 if two else 3), low  # one loop per arm of the chain; two selects side by side stay
    f = alt.build(s, [A, C])
    c = np.empty_like(a)
    f(a, c)
    np.testing.assert_allclose(c, want, rtol=1e-6)
