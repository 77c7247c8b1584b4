"""The persistent GPU kernel of a recursive model: its CPU emulation (the same driver and cells,
each GPU thread a POSIX thread, the grid barrier a pthread barrier) against the numpy recursion
for every model; nvcc compiles it (`cuda`); a GPU runs it (`gpu`)."""
import numpy as np
import pytest

import alt
from alt.errors import BuildError
from alt.recursive import ModelError, compile, data, models, reference

CUDA = alt.Target.parse("cuda -arch=sm_80 -threads=32")  # few threads a block: the emulation runs one per thread
VOCAB = 40
SIZES = {"treefc": 24, "treegru": 16, "treelstm": 32, "mvrnn": 8, "dagrnn": 16}
TREES = [7, ((1, 2), (3, (4, 5))), data.complete(3, vocab=VOCAB), ((-1, 3), -1)] + data.sst_like(3, seed=2, vocab=VOCAB)
DAGS = [data.grid(3, 4, vocab=VOCAB), data.grid(1, 1, vocab=VOCAB)]


def make(name):
    return models.MODELS[name](hidden=SIZES[name], vocab=VOCAB, seed=3)


def batch_of(model):
    return DAGS if model.kind == "dag" else TREES


@pytest.mark.parametrize("opts", [{"rows": 4}, {"rows": 32}, {"batching": False}], ids=["rows 4", "rows 32", "no batching"])
@pytest.mark.parametrize("name", list(models.MODELS))
def test_the_emulated_persistent_kernel_matches_the_numpy_recursion(name, opts):
    model = make(name)
    net = compile(model, target=CUDA, **opts)
    assert net.source.count("__global__") == 1 and "alt_grid_sync(alt_bar)" in net.source  # one launch
    for blocks in (1, 3):
        got = net.emulate(batch_of(model), blocks=blocks)
        np.testing.assert_allclose(got, reference(model, batch_of(model)), rtol=2e-4, atol=2e-5,
                                   err_msg=f"{name} {opts} on {blocks} blocks")


def test_gpu_options_and_emulation_limits_are_checked():
    model = make("treefc")
    with pytest.raises(ModelError, match="option 'hoist' is the CPU path's"):
        compile(model, target=CUDA, hoist=False)
    with pytest.raises(ModelError, match="rows=0"):
        compile(model, target=CUDA, rows=0)
    net = compile(model, target=alt.Target.parse("cuda -arch=sm_80"))  # 256 threads a block
    with pytest.raises(ModelError, match="needs 5120 POSIX threads"):
        net.emulate([1], blocks=20)
    from codegen.cuda_program import device_arch
    if device_arch() is None:
        with pytest.raises(BuildError, match="emulate"):
            net([1])


@pytest.mark.cuda
@pytest.mark.parametrize("name", list(models.MODELS))
def test_nvcc_compiles_every_models_persistent_kernel(name):
    net = compile(models.MODELS[name](hidden=64, vocab=VOCAB), target=alt.Target.parse("cuda -arch=sm_90"))
    assert net.cubin.stat().st_size > 0


@pytest.mark.gpu
@pytest.mark.parametrize("name", list(models.MODELS))
def test_the_persistent_kernel_matches_the_numpy_recursion_on_the_gpu(name):
    model = make(name)
    net = compile(model, target="cuda")
    np.testing.assert_allclose(net(batch_of(model)), reference(model, batch_of(model)), rtol=2e-4, atol=2e-5)
