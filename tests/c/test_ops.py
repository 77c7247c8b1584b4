"""Operators against independent references: numpy for GEMM, PyTorch (CPU) for convolutions."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import alt
from alt.ops import reference as ref
from alt.testing import random_inputs

CONVS = [  # (n, c, h, w, o, k, stride, padding)
    (1, 3, 17, 15, 8, 7, 2, 3),
    (2, 16, 14, 14, 8, 3, 1, 1),
    (1, 8, 9, 9, 4, 1, 1, 0),
    (1, 5, 10, 12, 6, 3, (2, 1), (0, 2)),
]


def _conv(n, c, h, w, o, k, stride, padding):
    X = alt.placeholder((n, c, h, w), name="X")
    W = alt.placeholder((o, c, k, k), name="W")
    b = alt.placeholder((o,), name="b")
    Y = alt.ops.conv2d_nchw(X, W, stride=stride, padding=padding)
    Z = alt.ops.relu(alt.ops.bias_add(Y, b), name="Z")
    return X, W, b, Y, Z


def _torch_cbr(x, w, b, stride, padding):
    t = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), stride=stride, padding=padding)
    return F.relu(t).numpy()


@pytest.mark.parametrize("shape", CONVS, ids=str)
@pytest.mark.parametrize("schedule", ["default", "tiled"])
def test_conv_bias_relu_matches_torch(shape, schedule):
    X, W, b, Y, Z = _conv(*shape)
    if schedule == "default":
        s = alt.ops.default_schedule(Z)
    else:
        s = alt.create_schedule(Z)
        alt.ops.conv2d_tiled(s, Y)
    f = alt.build(s, [X, W, b, Z])
    inputs = random_inputs([X, W, b], seed=1)
    x, w, bb = inputs[X], inputs[W], inputs[b]
    z = np.empty(Z.shape, np.float32)
    f(x, w, bb, z)
    want = _torch_cbr(x, w, bb, shape[6], shape[7])
    np.testing.assert_allclose(z, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("shape", CONVS[:2], ids=str)
def test_interpreter_and_numpy_reference_match_torch(shape):
    X, W, b, Y, Z = _conv(*shape)
    inputs = random_inputs([X, W, b], seed=2)
    want = _torch_cbr(inputs[X], inputs[W], inputs[b], shape[6], shape[7])
    np.testing.assert_allclose(alt.evaluate(Z, inputs), want, rtol=1e-4, atol=1e-5)
    got = ref.relu(ref.bias_add(ref.conv2d_nchw(inputs[X], inputs[W], shape[6], shape[7]), inputs[b]))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("m,n,k", [(1, 1, 1), (128, 128, 128), (33, 100, 17)])
def test_gemm_matches_numpy(m, n, k):
    A, B = alt.placeholder((m, k), name="A"), alt.placeholder((k, n), name="B")
    C = alt.ops.matmul(A, B)
    for s in (alt.ops.default_schedule(C), alt.ops.matmul_tiled(alt.create_schedule(C), C)):
        f = alt.build(s, [A, B, C])
        inputs = random_inputs([A, B], seed=3)
        c = np.empty((m, n), np.float32)
        f(inputs[A], inputs[B], c)
        np.testing.assert_allclose(c, inputs[A] @ inputs[B], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("m,n,k", [(1, 1000, 64), (13, 48, 33), (6, 16, 8)])
@pytest.mark.parametrize("order", ["ij", "ji"])
def test_dense_in_weight_panels_matches_numpy(m, n, k, order):
    """alt.ops.hand.dense_tiled: the weight stored as panels W[j // tj][k][j % tj] (padded to whole
    panels), column panels outermost by default; any shape, a single row too (a classifier)."""
    X, W = alt.placeholder((m, k), name="X"), alt.placeholder((n, k), name="W")
    Y = alt.ops.dense(X, W)
    s = alt.ops.hand.dense_tiled(alt.create_schedule(Y), Y, order=order)
    tj = alt.ops.hand.gemm_tile()[1]
    assert s.layout_of(W).shape == (-(-n // tj), k, tj)
    f = alt.build(s, [X, W, Y])
    inputs = random_inputs([X, W], seed=4)
    y = np.empty((m, n), np.float32)
    f(inputs[X], s.layout_of(W).to_physical(inputs[W]), y)
    np.testing.assert_allclose(y, inputs[X] @ inputs[W].T, rtol=1e-4, atol=1e-4)


def test_default_schedule_rfactors_row_reductions_only():
    """Row reductions over a contiguous last axis (softmax's max and sum, layer norm's sums) are
    rfactored so that they read whole vectors; contractions (dense, GEMM) and reductions whose
    output's last axis is contiguous in the input are not. Results match PyTorch either way."""
    X = alt.placeholder((3, 5, 40), name="X")
    Y = alt.ops.softmax(X)
    s = alt.ops.default_schedule(Y)
    assert {st.name for st in s.stages} >= {"softmax.max.rf", "softmax.sum.rf"}
    x = random_inputs([X], seed=5)[X]
    y = np.empty(X.shape, np.float32)
    alt.build(s, [X, Y])(x, y)
    np.testing.assert_allclose(y, torch.softmax(torch.from_numpy(x), -1).numpy(), rtol=1e-5, atol=1e-6)
    A, B = alt.placeholder((8, 64), name="A"), alt.placeholder((16, 64), name="B")
    for out in (alt.ops.dense(A, B), alt.ops.matmul(A, alt.placeholder((64, 16), name="Bt"))):
        assert not any(st.name.endswith(".rf") for st in alt.ops.default_schedule(out).stages)
    k = alt.reduce_axis(64, name="k")
    columns = alt.compute((16,), lambda j: alt.sum(alt.placeholder((64, 16), name="D")[k, j], axis=k), name="S")
    rows = alt.compute((16,), lambda j: alt.sum(B[j, k], axis=k), name="R")
    assert not any(st.name.endswith(".rf") for st in alt.ops.default_schedule(columns).stages)
    assert any(st.name.endswith(".rf") for st in alt.ops.default_schedule(rows).stages)


def test_op_shape_errors():
    A, B = alt.placeholder((3, 4), name="A"), alt.placeholder((5, 6), name="B")
    with pytest.raises(alt.ComputeError, match=r"A is \[3, 4\] and B is \[5, 6\]"):
        alt.ops.matmul(A, B)
    X, W = alt.placeholder((1, 3, 8, 8), name="X"), alt.placeholder((4, 2, 3, 3), name="W")
    with pytest.raises(alt.ComputeError, match="input has 3 channels but the weight expects 2"):
        alt.ops.conv2d_nchw(X, W)
    W = alt.placeholder((4, 3, 3, 3), name="W")
    with pytest.raises(alt.ComputeError, match=r"stride=0 must be an integer >= 1"):
        alt.ops.conv2d_nchw(X, W, stride=0)
    with pytest.raises(alt.ComputeError, match="does not match axis 1"):
        alt.ops.bias_add(X, alt.placeholder((5,), name="b"))


@pytest.mark.parametrize("shape", [  # (n, c, h, w, o, kh, kw, stride, padding)
    (1, 6, 5, 5, 4, 4, 4, 2, 1), (2, 3, 4, 6, 5, 3, 3, 2, 0), (1, 4, 5, 3, 3, 5, 2, (3, 2), (2, 1)),
    (1, 2, 4, 4, 3, 3, 3, 1, 1), (1, 3, 3, 4, 2, 2, 5, (2, 3), (1, 4))], ids=str)
def test_transposed_convolution_matches_torch_with_only_useful_multiply_adds(shape):
    """conv2d_transpose_nchw in its sub-pixel form (no multiply by the dilation's zeros), kernels
    that the stride divides and ones it does not, against PyTorch, compiled and interpreted."""
    n, c, h, w, o, kh, kw, stride, padding = shape
    X, W = alt.placeholder((n, c, h, w), name="X"), alt.placeholder((c, o, kh, kw), name="W")
    Y = alt.ops.conv2d_transpose_nchw(X, W, stride=stride, padding=padding)
    inputs = random_inputs([X, W], seed=3)
    want = F.conv_transpose2d(torch.from_numpy(inputs[X]), torch.from_numpy(inputs[W]), stride=stride,
                              padding=padding).numpy()
    assert Y.shape == want.shape
    np.testing.assert_allclose(alt.evaluate(Y, inputs), want, rtol=1e-4, atol=1e-5)
    f = alt.build(alt.ops.default_schedule(Y), [X, W, Y])
    y = np.empty(Y.shape, np.float32)
    f(inputs[X], inputs[W], y)
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-5)
    sy, sx = (stride, stride) if isinstance(stride, int) else stride
    taps = -(-kh // sy) * -(-kw // sx)
    from alt.ops.suite import flop_count
    assert flop_count(Y) == 2 * n * o * Y.shape[2] * Y.shape[3] * c * taps  # the kernel's taps / stride²
