"""The operator suite: every operator kind, at small shapes, with its default schedule, against PyTorch."""
import numpy as np
import pytest

import alt
from alt.ops import Workload, suite
from alt.ops.suite import SMALL_SHAPES
from alt.testing import random_inputs

SMALL = SMALL_SHAPES


def test_every_suite_operator_has_a_small_case():
    assert {w.op for w in suite()} == set(SMALL)


@pytest.mark.parametrize("op", sorted(SMALL))
def test_default_schedule_matches_torch_and_interpreter(op):
    w = Workload(op, f"{op}-small", SMALL[op])
    inputs, out = w.build()
    s = alt.ops.default_schedule(out)
    f = alt.build(s, inputs + [out])
    feed = random_inputs(inputs, seed=4)
    arrays = [feed[t] for t in inputs]
    got = np.empty(out.shape, np.float32)
    f(*arrays, got)
    want = w.torch(*arrays)
    assert want.shape == got.shape
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(alt.evaluate(out, feed), want, rtol=1e-4, atol=1e-5)
    text = str(f.lowered)
    assert "parallel" in text or out.ndim == 1 or np.prod(out.shape[:-1]) == 1
    assert "vectorize" in text


def test_suite_lists_ansor_shapes_and_resnet_layers():
    names = {w.name: w for w in suite()}
    assert names["C2D-0"].params == (1, 3, 224, 64, 7, 2, 3)
    ins, out = names["C2D-0"].build()
    assert out.shape == (1, 64, 112, 112)
    assert names["GMM-3"].flops == 2.0 * 1024 ** 3
    assert len([n for n in names if n.startswith("R18-")]) == 11
    assert len([n for n in names if n.startswith("R50-")]) == 23


def test_layout_transform_op_nchw_to_nchw16c():
    X = alt.placeholder((1, 32, 5, 6), name="X")
    Y = alt.ops.layout_transform(X)
    s = alt.create_schedule(Y)
    s.layout(Y).split(1, 16).reorder(0, 1, 3, 4, 2)
    alt.ops.schedule_stage(s, s[Y])
    f = alt.build(s, [X, Y])
    x = np.random.default_rng(0).standard_normal(X.shape).astype("f4")
    y = np.empty(s.layout_of(Y).shape, "f4")
    f(x, y)
    np.testing.assert_array_equal(y, x.reshape(1, 2, 16, 5, 6).transpose(0, 1, 3, 4, 2))
    np.testing.assert_array_equal(f.unpack(Y, y), x)
