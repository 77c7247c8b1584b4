import pytest

import alt


def pytest_collection_modifyitems(config, items):
    """`cuda` tests need nvcc, `gpu` tests a GPU and pycuda: skipped, saying which is missing."""
    from codegen.cuda_program import device_arch
    from codegen.nvcc import nvcc_path
    no_nvcc = pytest.mark.skip(reason="nvcc not found (PATH, $ALT_NVCC, /usr/local/cuda/bin)")
    no_gpu = pytest.mark.skip(reason="no NVIDIA GPU with pycuda here (pip install -e '.[cuda]' on a GPU machine)")
    def marked(it, name):
        return it.get_closest_marker(name) is not None
    gpu = [it for it in items if marked(it, "gpu")]
    nvcc = [it for it in items if marked(it, "cuda")] + gpu
    has_nvcc = nvcc_path() is not None if nvcc else True
    has_gpu = device_arch() is not None if gpu else True
    for it in nvcc:
        if not has_nvcc:
            it.add_marker(no_nvcc)
        elif marked(it, "gpu") and not has_gpu:
            it.add_marker(no_gpu)


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
