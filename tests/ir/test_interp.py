"""The reference interpreter evaluates any operator in bounded memory: grids over CHUNK elements
are cut into blocks whose partial results give the same answer."""
import itertools
import tracemalloc

import numpy as np
import pytest

from alt import interp
from alt.ops import Workload


@pytest.mark.parametrize("op, params", [("C2D", (1, 5, 11, 6, 3, 1, 1)), ("C3D", (1, 3, 7, 4, 3, 2, 1, 5)),
                                        ("MXP", (1, 3, 11, 3, 2, 1)), ("SFM", (6, 37)), ("LN", (6, 37)),
                                        ("GMM", (17, 9, 23)), ("RELU", (2, 3, 5, 7))])
def test_blocked_evaluation_matches_one_grid(op, params, monkeypatch):
    w = Workload(op, "test-interp", params)
    inputs, out = w.build()
    rng = np.random.default_rng(0)
    feed = {t: rng.standard_normal(t.shape).astype(np.float32) for t in inputs}
    whole = interp.evaluate(out, feed)
    monkeypatch.setattr(interp, "CHUNK", 64)  # every tensor of these operators is now cut into blocks
    blocked = interp.evaluate(out, feed)
    np.testing.assert_allclose(blocked, whole, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(blocked, w.torch(*[feed[t] for t in inputs]), rtol=1e-4, atol=1e-4)


def test_blocks_tile_the_grid_once_and_stay_under_the_limit():
    extents = [3, 7, 5, 11]
    blocks = interp.grid_blocks(extents, 40)
    seen = np.zeros(extents, int)
    for b in blocks:
        assert np.prod([hi - lo for lo, hi in b]) <= 40
        seen[tuple(slice(lo, hi) for lo, hi in b)] += 1
    assert (seen == 1).all()
    assert interp.grid_blocks([2, 2], 1) == [[(a, a + 1), (b, b + 1)] for a, b in itertools.product(range(2), repeat=2)]
    assert interp.grid_blocks([5, 5], 100) == [[(0, 5), (0, 5)]]


def test_a_large_reduction_is_evaluated_in_bounded_memory(monkeypatch):
    """A 3-d convolution whose grid (output x reduction) is 7M elements evaluates within a few
    blocks' memory (the suite's C3D-0 grid is 6.6 x 10^9 elements: 26 GB of float32 at once)."""
    monkeypatch.setattr(interp, "CHUNK", 1 << 18)
    w = Workload("C3D", "test-interp-big", (1, 8, 16, 16, 3, 1, 1, 8))
    inputs, out = w.build()
    rng = np.random.default_rng(0)
    feed = {t: rng.standard_normal(t.shape).astype(np.float32) for t in inputs}
    tracemalloc.start()
    try:
        got = interp.evaluate(out, feed)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 40 * (1 << 18) * 8, f"peak {peak / 2**20:.0f} MiB"  # a few int64 grids of one block
    np.testing.assert_allclose(got, w.torch(*[feed[t] for t in inputs]), rtol=1e-4, atol=1e-4)
