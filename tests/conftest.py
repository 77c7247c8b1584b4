import pytest

import alt


def make_gemm(m=37, n=45, k=23, dtype="float32"):
    """Odd sizes so that most split factors do not divide."""
    A = alt.placeholder((m, k), name="A", dtype=dtype)
    B = alt.placeholder((k, n), name="B", dtype=dtype)
    C = alt.ops.matmul(A, B)
    return [A, B, C], C


def make_conv(n=2, c=5, hw=(11, 13), o=6, k=3, stride=1, pad=1):
    X = alt.placeholder((n, c) + tuple(hw), name="X")
    W = alt.placeholder((o, c, k, k), name="W")
    Y = alt.ops.conv2d_nchw(X, W, stride=stride, padding=pad)
    return [X, W, Y], Y


@pytest.fixture
def gemm():
    return make_gemm()


@pytest.fixture
def conv():
    return make_conv()
