"""The tuner's strategies (on fabricated measurements), features and cost model (measurement,
records and tuning end to end: test_tune.py; the spaces: test_spaces.py)."""

import json

import numpy as np
import pytest
from scipy.stats import spearmanr

import alt
from alt.ops import Workload
from alt.testing import check_schedule
from search import records as R
from search.features import LENGTH, extract
from search.model import FEATURE_SHARE, LOG_FLOOR, TARGETS, GBTModel, RandomModel, training_target
from search.space import enumerate_layouts, space_for
from search.strategy import key, make_strategy
from search.tune import tune

CONV = Workload("C2D", "test-conv", (1, 16, 10, 32, 3, 1, 1))
GEMM = Workload("GMM", "test-gemm", (24, 40, 36))


@pytest.mark.parametrize("name", ["alt", "loop-only"])
def test_strategies_measure_the_target_hand_schedules_first(name):
    space = space_for(Workload("C2D", "C2D-t", (1, 64, 28, 64, 3, 1, 1)))
    strat = make_strategy(name, space, np.random.default_rng(0), 64)
    seeds = [p for p in space.seeds() if name == "alt" or all(p[k] == v for k, v in space.default_layout().items())]
    first = strat.next_batch(8)
    assert seeds and first[:len(seeds)] == seeds and len(first) == 8
    strat.update(first, [1.0] * len(first))
    assert not any(p in seeds for p in strat.next_batch(8))
    bare = make_strategy(name, space, np.random.default_rng(0), 64, hand_seeds=False)
    got = bare.next_batch(8)  # an ablation of the search itself: a Winograd point is one per layout and
    assert got[:len(seeds)] != seeds and not any(p in seeds for p in got if not p["winograd"])  # tile, so
    # a random draw may be one, but a direct seed's loop knobs do not come up by chance


@pytest.mark.parametrize("op,params,tiles", [("C2D", (1, 64, 14, 256, 1, 1, 0), ("ob", "ib")),
                                             ("C1D", (1, 64, 30, 128, 3, 1, 1), ("ob", "ib")),
                                             ("DEP", (1, 64, 14, 3, 1, 1), ("cb",))])
def test_loop_only_tunes_the_channel_tiles_that_lay_nothing_out_under_its_fixed_layout(op, params, tiles):
    """ALT-OL fixes the layout (channels last, weights unblocked), not the loops: in NHWC the channel
    tiles tile loops over channels that are contiguous anyway, so loop-only draws and moves them
    (it used to keep them at one vector, a register tile of one vector of output channels that the
    joint search was not held to), while every tensor keeps the fixed layout."""
    space = space_for(Workload(op, f"{op}-t", params))
    lay = space.default_layout()
    assert not set(tiles) & set(lay)
    strat = make_strategy("loop-only", space, np.random.default_rng(0), 64, hand_seeds=False)
    batch = strat.next_batch(32)
    assert all(p[k] == v for p in batch for k, v in lay.items())
    assert {space.layouts(p) for p in batch} == {space.layouts(batch[0])}  # one layout of the tensors
    for t in tiles:
        assert len({p[t] for p in batch}) > 1, t
    rng = np.random.default_rng(1)
    moves = [(p, space.neighbor(p, rng, strat.knobs)) for p in batch for _ in range(10)]
    assert any(q is not None and q[tiles[0]] != p[tiles[0]] for p, q in moves)  # annealing moves them too
    wide = next(p for p in batch if p[tiles[0]] > space.lanes)
    sch, args = space.apply(wide)
    check_schedule(sch, args)


@pytest.mark.parametrize("op,params,tiles", [("C2D", (1, 64, 14, 256, 1, 1, 0), ("ob", "ib")),
                                             ("C1D", (1, 64, 30, 128, 3, 1, 1), ("ob", "ib")),
                                             ("DEP", (1, 64, 14, 3, 1, 1), ("cb",))])
def test_the_joint_search_tunes_those_tiles_with_the_loops_once_it_chose_channels_last(op, params, tiles):
    """The joint search's layouts are memory layouts (Space.memory_layouts): channels last is one
    layout, and its channel tiles are tuned with the loops. It took each tile value for a layout of
    its own: channels last was most of C1D-0's layouts (exploration drew it more often than any
    other memory order), and the second stage annealed it at the one or two tile values its first
    stage had tried best."""
    space = space_for(Workload(op, f"{op}-t", params))
    last = space.default_layout()
    assert space.memory_layout(last) == last
    assert [lay for lay in space.memory_layouts() if all(lay[k] == v for k, v in last.items())] == [last]
    assert any(t in lay for lay in space.memory_layouts() for t in tiles)  # blocked layouts keep theirs
    rng = np.random.default_rng(0)
    strat = make_strategy("alt", space, np.random.default_rng(0), 16, hand_seeds=False)
    first = [space.sample(rng, lay) for lay in strat.layouts for _ in range(4)]  # past the joint stage's 8 trials,
    # four points a layout as its short searches measure: the model learns that channels last is faster, and gives
    # it most of the loop stage's batch (the stage anneals its best layouts together, Strategy.anneal_in)
    strat.update(first, [2.0 if space.memory_layout(p) == last else 1.0 for p in first])
    batch = [p for p in strat.next_batch(16) if space.memory_layout(p) == last]
    assert len(batch) >= 6 and {space.layouts(p) for p in batch} == {space.layouts(batch[0])}
    for t in tiles:
        assert len({p[t] for p in batch}) > 1, t


def test_a_hand_seeds_layout_gets_its_short_loop_search_in_the_joint_stages_last_batch():
    """A hand seed's one point is no loop search: judged by it, channels last lost to blocked layouts
    searched four points deep (C1D-0, three runs of three). The joint stage's last batch
    searches the seeds' layouts, even when the seed measured slower than the rest; not earlier,
    when the model has not yet learnt from the other layouts which tiles pay."""
    space = space_for(Workload("C1D", "C1D-t", (1, 64, 30, 128, 3, 1, 1)))
    seeds, last = space.seeds(), space.default_layout()
    for trials in (32, 48):  # joint stages of 16 and 24 trials: 2 and 3 batches of 8
        strat = make_strategy("alt", space, np.random.default_rng(0), trials)
        batches = []
        while strat.spent < strat.joint_budget:
            batches.append(strat.next_batch(8))
            strat.update(batches[-1], [0.5 if space.memory_layout(p) == last else 1.0 for p in batches[-1]])
        assert batches[0][:len(seeds)] == seeds
        assert {key(space.memory_layout(p)) for p in seeds} <= {key(space.memory_layout(p)) for p in batches[-1]}
        assert sum(space.memory_layout(p) == last for p in sum(batches, [])) >= strat.per_layout
        assert not any(space.memory_layout(p) == last for p in sum(batches[1:-1], []))  # not earlier


def test_loop_only_draws_where_few_points_are_valid():
    """A 1x1 output (ResNet-18 at 32x32): uniform draws of everything but NHWC all fail, and
    enumerating the rest stopped at _valid_points' limit short of a valid point ("no valid point of
    Conv2dSpace found with {'layout': 'NHWC', 'spatial': 0}" in `alt tune-net --strategy loop-only`).
    Such a draw is made within one whole layout that has valid points."""
    space = space_for(Workload("C2D", "C2D-t", (1, 256, 2, 512, 3, 2, 1)))
    strat = make_strategy("loop-only", space, np.random.default_rng(0), 24)
    for _ in range(3):
        batch = strat.next_batch(8)
        assert len(batch) == 8 and all(space.check(p) is None and p["layout"] == "NHWC" for p in batch)
        strat.update(batch, [1.0 + 0.1 * i for i in range(len(batch))])


def test_alt_strategy_explores_its_share_of_layouts_over_the_joint_stage():
    space = space_for(Workload("C2D", "C2D-t", (1, 64, 28, 64, 3, 1, 1)))
    strat = make_strategy("alt", space, np.random.default_rng(0), 64)
    picks = [strat._random_layouts(2) for _ in range(8)]  # the joint stage of 64 trials: 8 batches of 2 layouts
    assert sum(picks) == 3 and max(picks) == 1  # 20% of 16 layouts, not one of every two
    assert make_strategy("alt", space, np.random.default_rng(0), 64)._random_layouts(12) == 2


def test_a_strategys_settings_can_be_changed_and_bad_ones_are_named():
    space = space_for(Workload("C2D", "C2D-t", (1, 64, 28, 64, 3, 1, 1)))
    strat = make_strategy("alt", space, np.random.default_rng(0), 64,
                          options={"joint_share": "0.25", "top_layouts": 2.0, "novelty": 0, "explore": 0.1})
    assert (strat.joint_budget, strat.top_layouts, strat.NOVELTY, strat.explore) == (16, 2, 0.0, 0.1)
    assert isinstance(strat.top_layouts, int) and make_strategy("alt", space, np.random.default_rng(0), 64).NOVELTY \
        == 0.2  # the class's default is left alone
    for options, match in (({"joint_share": 1.5}, "joint_share=1.5 for strategy 'alt'; give a number from 0.0 to 1.0"),
                           ({"per_layout": 2.5}, "per_layout=2.5 .* give a whole number from 1 to 64"),
                           ({"chains": True}, "chains=True"), ({"steps": "many"}, "steps='many'"),
                           ({"explore": float("nan")}, "explore=nan")):
        with pytest.raises(alt.OptionError, match=match):
            make_strategy("alt", space, np.random.default_rng(0), 64, options=options)
    with pytest.raises(alt.OptionError, match=r"model_target='rank' for strategy 'alt'; give one of \['share', 'log'"):
        make_strategy("alt", space, np.random.default_rng(0), 64, options={"model_target": "rank"})
    shared = make_strategy("loop-only", space, np.random.default_rng(0), 64, options={"model_target": "share"})
    assert shared._model.target == "share" and make_strategy("alt", space, np.random.default_rng(0), 64)._model.target \
        == "log"  # the default
    every = make_strategy("alt", space, np.random.default_rng(0), 64, options={"model_features": "1"})
    assert every._model.features == 1.0 and make_strategy("alt", space, np.random.default_rng(0), 64)._model.features \
        == FEATURE_SHARE
    with pytest.raises(alt.OptionError, match="model_features=0 for strategy 'alt'; give a number from 0.05 to 1.0"):
        make_strategy("alt", space, np.random.default_rng(0), 64, options={"model_features": 0})
    with pytest.raises(alt.OptionError, match="'top_layouts' is not a setting of strategy 'loop-only'"):
        make_strategy("loop-only", space, np.random.default_rng(0), 64, options={"top_layouts": 2})
    with pytest.raises(alt.OptionError, match="search.tune: 'bogus' is not a setting of strategy 'alt'"):
        tune(CONV, trials=1, strategy_options={"bogus": 1})  # before anything is built or measured


def test_alt_strategys_exploring_layouts_go_first_to_the_values_nothing_measured():
    """A model that has seen NHWC and NCHW ranks NHWC variants first and cannot rank NCHWc; the
    exploring picks must not leave it to luck: the untried family with the largest share comes
    first, and with nothing measured the first batch's layouts differ in memory order (the family,
    or a spatial tiling that only a blocked family has). Once every value is tried, picks are
    uniform draws (every candidate reachable)."""
    space = space_for(Workload("C2D", "C2D-t", (1, 64, 28, 64, 3, 1, 1)))
    families = {lay["layout"] for lay in enumerate_layouts(space)}
    assert {"NHWC", "NCHW"} < families
    for seed in range(5):
        st = make_strategy("alt", space, np.random.default_rng(seed), 64, hand_seeds=False)
        seen = [next(lay for lay in st.layouts if lay["layout"] == f) for f in ("NHWC", "NCHW")]
        st.reward = {key(lay): 1.0 for lay in seen}
        (pick,) = st._explore_layouts([lay for lay in st.layouts if key(lay) not in st.reward], 1)
        assert pick["layout"] not in ("NHWC", "NCHW")
        first = make_strategy("alt", space, np.random.default_rng(seed), 64, hand_seeds=False,
                              model="random")._joint(8)
        assert len({(p["layout"], p["spatial"]) for p in first}) == 2  # 2 layouts of 4 points, 2 memory orders
    st.update([space.sample(np.random.default_rng(0), {"winograd": m}) for m in space.knobs["winograd"]], [1.0] * 3)
    st.reward = {key(lay): 1.0 for lay in st.layouts}  # every value tried (and every algorithm): uniform
    drawn = {key(st._explore_layouts(st.layouts, 1)[0]) for _ in range(200)}
    assert len(drawn) > len(st.layouts) // 2


def test_exploring_picks_go_first_to_algorithms_nothing_measured():
    """R18-4's Winograd tiles exist in a sixth of its layouts, and every Winograd point of it beats
    every direct one; a model cannot rank an algorithm it has no measurement of. Without the hand
    seeds, the random share must not leave it to luck (4 seeds of 6 measured no Winograd point in
    64 trials): the first batch holds a layout that allows Winograd and a point of each tile, and
    once the direct algorithm alone is measured, the next exploring layout allows Winograd."""
    space = space_for(Workload("C2D", "R18-4-like", (1, 64, 56, 64, 3, 1, 1)))
    rng = np.random.default_rng(0)
    allows = [lay for lay in enumerate_layouts(space) if ("winograd", 4) in space.algorithms(rng, lay)]
    assert 0 < len(allows) < len(enumerate_layouts(space)) // 2
    assert space.algorithms(rng, {**allows[0], "winograd": 0}) == {}  # fixed knobs are not offered
    for seed in range(5):
        for model in ("gbt", "random"):
            st = make_strategy("alt", space, np.random.default_rng(seed), 64, hand_seeds=False, model=model)
            first = st.next_batch(8)
            assert {p["winograd"] for p in first} == {0, 2, 4}
        direct = [lay for lay in st.layouts if lay not in allows][:2]
        st = make_strategy("alt", space, np.random.default_rng(seed), 64, hand_seeds=False)
        st.update([space.sample(np.random.default_rng(seed), lay) for lay in direct], [1.0, 1.0])
        (pick,) = st._explore_layouts([lay for lay in st.layouts if lay not in direct], 1)
        assert ("winograd", 4) in space.algorithms(rng, pick)  # (channels last, a memory order not measured, too)
        pts = st._random(3, pick)
        assert {p["winograd"] for p in pts} >= {2, 4}


def test_features_fixed_length_and_informative():
    space = space_for(CONV)
    rng = np.random.default_rng(0)
    vecs = [extract(alt.lower(*space.apply(space.sample(rng, {"winograd": 0})))) for _ in range(5)]
    assert all(v.shape == (LENGTH,) and np.isfinite(v).all() for v in vecs)
    assert len({v.tobytes() for v in vecs}) == 5


@pytest.mark.parametrize("w", [CONV, GEMM, Workload("DEP", "test-dep", (1, 32, 12, 3, 1, 1))],
                         ids=["C2D", "GMM", "DEP"])
def test_the_features_read_every_access_as_its_simplified_flat_index(w):
    """extract reads each access's flat index as a linear form built without simplifying the whole
    sum (arith.flat_linear): the strides and the loops each access uses are those of the simplified
    flat index, on candidates of every layout of a space."""
    from alt import arith, expr as E
    from search.features import _Access, _walk
    space, rng = space_for(w), np.random.default_rng(5)
    for lay in space.memory_layouts()[:6]:
        func = alt.lower(*space.apply(space.sample(rng, lay)))
        stores = []
        _walk(func.body, [], stores)
        loads = [(st.buffer, st.indices) for st, _ in stores] + [
            (e.buffer, e.indices) for st, _ in stores for e in E.walk(st.value) if isinstance(e, alt.stmt.Load)]
        variables = {id(lp.var): lp.var for _, loops in stores for lp in loops}
        for buf, idx in loads:
            acc, flat = _Access(buf, idx), arith.flat_index(buf.shape, idx)
            terms, _ = arith.linear(flat)
            for var in variables.values():
                assert acc.uses(var) == E.uses(flat, var)
                c = terms.get(("v", id(var)), (None, 0))[1]
                inside = any(E.uses(a, var) for k, (a, _) in terms.items() if k != ("v", id(var)))
                assert acc.stride(var) == (None if inside else c)


def test_model_fit_predict_save_load(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.random((40, 5))
    y = 3 * X[:, 0] + X[:, 1]
    m = GBTModel(seed=0).fit(X, y)
    pred = m.predict(X)
    assert np.corrcoef(pred, y)[0, 1] > 0.9
    m.save(tmp_path / "m.npz")
    np.testing.assert_allclose(GBTModel.load(tmp_path / "m.npz").predict(X), pred)
    assert len(RandomModel(rng).predict(X)) == 40
    assert np.all(GBTModel().fit(X[:3], y[:3]).predict(X) == 0)  # too little data: no preference


def test_model_fitted_to_log_throughput_predicts_the_logarithm_of_the_share_of_the_best(tmp_path):
    """Throughputs over two orders of magnitude, a few failed (0): the share model predicts the
    share of the best, the log model its logarithm (0 at the best, a failure at log LOG_FLOOR);
    both rank the points, and both survive saving."""
    rng = np.random.default_rng(0)
    X = rng.random((60, 3))
    y = 10.0 ** (2 * X[:, 0])  # 1 to 100
    y[:3] = 0.0  # failed candidates
    np.testing.assert_allclose(training_target([1.0, 0.5, 0.0]), [1.0, 0.5, 0.0])
    np.testing.assert_allclose(training_target([1.0, 0.5, 0.0], "log"), [0.0, np.log(0.5), np.log(LOG_FLOOR)])
    for target in TARGETS:
        m = GBTModel(seed=0, target=target).fit(X, y)
        pred = m.predict(X)
        assert spearmanr(pred, y)[0] > 0.9
        assert np.median(np.abs(pred - training_target(y / y.max(), target))) < 0.1
        m.save(tmp_path / f"{target}.npz")
        again = GBTModel.load(tmp_path / f"{target}.npz")
        assert again.target == target
        np.testing.assert_allclose(again.predict(X), pred)
    assert GBTModel(seed=0, target="log").fit(X, y).predict(X[:3]).max() < np.log(0.05)  # failures far below
    with pytest.raises(alt.OptionError, match=r"GBTModel target='rank': use one of \['share', 'log'\]"):
        GBTModel(target="rank")


def test_model_splits_on_a_share_of_the_features_and_ranks_better_where_many_say_the_same(tmp_path):
    """A program's features hold near-copies (the bytes touched at each loop level, per buffer):
    20 noisy copies of what decides the throughput beside 40 that say nothing, 32 points to learn
    from. With every feature to choose from, each split takes the copy that fits best by chance
    and the trees learn its noise; with FEATURE_SHARE of them, they average over the copies, and
    400 points not seen rank better, seed after seed (with 5 features, a split still sees every
    one: SPLIT_FEATURES). The share is checked, saved and loaded (a file from before it fits with
    every feature, as it was fitted)."""
    assert 0 < FEATURE_SHARE < 1 and GBTModel().features == FEATURE_SHARE
    gain = []
    for seed in range(5):
        rng = np.random.default_rng(seed)
        signal = rng.random(432)
        X = np.hstack([signal[:, None] + 0.3 * rng.standard_normal((432, 20)), rng.random((432, 40))])
        y = np.exp(2 * signal)
        rho = {f: spearmanr(GBTModel(seed=0, features=f).fit(X[:32], y[:32]).predict(X[32:]), y[32:])[0]
               for f in (FEATURE_SHARE, 1.0)}
        gain.append(rho[FEATURE_SHARE] - rho[1.0])
    assert min(gain) > 0 and np.mean(gain) > 0.04, gain
    m = GBTModel(seed=0, features=0.5).fit(X[:32], y[:32])
    assert m._model.max_features == 0.5
    assert GBTModel(seed=0).fit(X[:32, :5], y[:32])._model.max_features == 1.0  # 5 features: a split sees all
    m.save(tmp_path / "m.npz")
    again = GBTModel.load(tmp_path / "m.npz")
    assert again.features == 0.5
    np.testing.assert_allclose(again.predict(X), m.predict(X))
    np.savez(tmp_path / "old.npz", X=m.X, y=m.y, seed=0, min_samples=8, target="log")  # no features entry
    assert GBTModel.load(tmp_path / "old.npz").features == 1.0
    for bad in (0, 1.5, "all", None, True):
        with pytest.raises(alt.OptionError, match=f"GBTModel features={bad!r}: give the share of features a split"):
            GBTModel(features=bad)


def fake_gflops(p):
    """A fabricated landscape: the default (NHWC) layout is mediocre, NCHWc with ob=16 is best."""
    s = {"NCHWc": 100.0, "NHWC": 50.0, "NCHW": 30.0}[p["layout"]]
    s *= 1.5 if p["ob"] == 16 else 1.0
    s *= 1.2 if p["ib"] == 16 else 1.0
    return s * (1.3 if p["tile_x"] == 2 else 1.0) * (1.1 if p["unroll"] else 1.0)


def run_fake(name, seed=0, batches=6, n=8):
    space = space_for(CONV)
    st = make_strategy(name, space, np.random.default_rng(seed), trials=batches * n)
    proposed, best = [], 0.0
    for _ in range(batches):
        pts = st.next_batch(n)
        assert len({key(p) for p in pts}) == len(pts) == n
        assert not any(key(p) in {key(q) for q in proposed} for p in pts), "a point was proposed twice"
        proposed += pts
        scores = [fake_gflops(p) for p in pts]
        best = max(best, *scores)
        st.update(pts, scores)
    return proposed, best


@pytest.mark.parametrize("name", [pytest.param("alt", marks=pytest.mark.slow), "loop-only",
                                  pytest.param("layout-then-loop", marks=pytest.mark.slow), "random"])
def test_strategies_on_fabricated_measurements(name):
    proposed, best = run_fake(name)
    if name == "loop-only":
        assert {p["layout"] for p in proposed} == {"NHWC"}
    assert best > 0


@pytest.mark.slow
def test_same_seed_same_measurements_same_proposals():
    a, _ = run_fake("alt", seed=3, batches=3)
    b, _ = run_fake("alt", seed=3, batches=3)
    assert a == b


@pytest.mark.slow
def test_joint_search_beats_fixed_layout_when_the_layout_matters():
    _, alt_best = run_fake("alt")
    _, loop_best = run_fake("loop-only")
    assert alt_best > loop_best


def test_featurizer_splits_new_points_over_the_build_pool_with_the_same_features():
    """The strategy's features are computed in the measurer's idle build workers when it has them:
    the same vectors as here, rejected points None, and a pool that fails leaves them to this process."""
    from search.measure import WorkerPool
    from search.featurize import Featurizer, lowered, point_features
    space = space_for(CONV)
    rng = np.random.default_rng(4)
    points = [space.sample(rng) for _ in range(5)] + [dict(space.sample(rng), ob=3)]  # the last is invalid
    here = [point_features(space, p) for p in points]
    assert here[-1] is None
    pool = WorkerPool(2, 60)
    try:
        pooled = Featurizer(space, pool, R.workload_key(CONV))
        feats = pooled(points)
    finally:
        pool.kill()
    assert feats[-1] is None
    for a, b in zip(feats[:-1], here[:-1]):
        np.testing.assert_array_equal(a, b)

    class Failing:
        size = 2

        def submit(self, fn, *args):
            from concurrent.futures import Future
            from search.worker import WorkerCrash
            f = Future()
            f.set_exception(WorkerCrash("died (exit code -9)"))
            return f

    feats = Featurizer(space, Failing(), R.workload_key(CONV))(points)
    for a, b in zip(feats[:-1], here[:-1]):
        np.testing.assert_array_equal(a, b)
    programs = [pooled.programs[key(p)] for p in points]  # the same programs from the pool as here
    assert programs == [lowered(space, p)[1] for p in points] and programs[-1] is None


def test_annealing_stops_when_its_best_points_stop_changing():
    """AutoTVM's early stop: a model with no preference changes nothing, so annealing ends after
    `patience` unchanged steps instead of running all of them; a real model keeps the full budget
    available."""
    space = space_for(CONV)
    st = make_strategy("loop-only", space, np.random.default_rng(0), trials=16)
    st.update([space.sample(np.random.default_rng(1), st.layout)], [1.0])
    calls = []
    score = st._score
    st._score = lambda pts: calls.append(len(pts)) or np.zeros(len(pts))
    st.anneal(4, fixed=st.layout, knobs=space.loop_knobs)
    assert len(calls) == 1 + st.patience + 1 < 1 + st.steps  # the starts, then patience + 1 steps
    st._score = score


def test_nearest_distances_are_each_rows_own_in_blocks_of_any_size():
    from search.strategy import _nearest
    rng = np.random.default_rng(0)
    feats = [rng.standard_normal(300), None, rng.standard_normal(300), rng.standard_normal(300)]
    for m in (5, 4000):  # 4000 x 300 floats: one row a block
        ref = rng.standard_normal((m, 300))
        want = [np.sqrt(((ref - f) ** 2).sum(1)).min() if f is not None else np.inf for f in feats]
        assert _nearest(feats, ref).tolist() == want  # the same sums, bit for bit
    assert _nearest(feats, np.zeros((0, 300))).tolist() == [np.inf] * 4


def test_a_trained_model_picks_far_points_and_no_near_copies_in_one_batch():
    """Among candidates the model predicts equally, `_top` takes the one farthest from every
    measured point first, and not a near-copy of a point it picked already (the uncertainty bonus,
    Strategy.novelty). Measured points have no bonus; an untrained model (and random guidance)
    ranks by prediction alone."""
    space = space_for(CONV)
    rng = np.random.default_rng(0)
    st = make_strategy("loop-only", space, rng, trials=64, hand_seeds=False)
    distinct = {}
    while len(distinct) < 20:  # (a draw is a Winograd point 2 times in 3, and those are few: repeats)
        p = space.sample(rng)
        distinct[key(p)] = p
    measured, cands = list(distinct.values())[:12], list(distinct.values())[12:20]  # with the copy below: 3n
    st.update(measured, list(np.linspace(1.0, 2.0, len(measured))))
    assert st.model.trained()
    assert np.all(st.novelty(measured) == 0)
    novel = st.novelty(cands)
    assert novel.max() > 0 and np.all(novel <= 2.0)
    far = cands[int(np.argmax(novel))]
    copy = dict(far, copy_of_the_farthest=1)  # features of `far`, a point of its own
    st.features.cache[key(copy)] = st.features([far])[0]
    found = {key(p): (0.5, p) for p in cands + [copy]}
    top = st._top(found, 3)
    assert top[0] == far and copy not in top
    assert st.novelty([copy], np.array([st.features([far])[0]]))[0] == 0
    favourite = next(p for p in cands if p != far)  # predicted above any bonus can lift the others: first
    found[key(favourite)] = (0.5 + 2 * st.NOVELTY + 0.01, favourite)
    assert st._top(found, 1) == [favourite]

    guided_by_noise = make_strategy("loop-only", space, np.random.default_rng(0), trials=64, model="random")
    guided_by_noise.update(measured, list(np.linspace(1.0, 2.0, len(measured))))
    assert np.all(guided_by_noise.novelty(cands) == 0)
    ranked = {key(p): (s, p) for s, p in zip(np.linspace(0.0, 1.0, len(cands)), cands)}
    assert guided_by_noise._top(ranked, 3) == cands[::-1][:3]


def test_a_point_that_lowers_to_a_measured_program_is_never_proposed():
    """Knob values that do nothing under the others (attach over an unrolled-free tile: the same
    loop nest either way) make two points of one program. Once one is measured, the other is a copy:
    neither the annealing's picks nor random draws propose it (a copy of the best point has the best
    prediction, and C1D-0 spent up to 17 of 64 trials on copies), and two picks of a batch are never
    copies of each other."""
    space = space_for(Workload("C1D", "C1D-0", (1, 64, 256, 128, 3, 2, 1)))
    rng = np.random.default_rng(0)
    st = make_strategy("loop-only", space, rng, trials=64, hand_seeds=False)
    pair = None
    while pair is None:
        p = space.sample(rng)
        q = dict(p, attach=1 - p["attach"])
        if space.check(q) is None and st.features.program(p) == st.features.program(q):
            pair = p, q
    p, q = pair
    assert st.features.program(p) is not None and key(p) != key(q)
    other = next(r for r in (space.sample(rng) for _ in range(100))
                 if st.features.program(r) not in (None, st.features.program(p)))
    assert st._top({key(q): (10.0, q), key(p): (9.0, p), key(other): (1.0, other)}, 2) == [q, other]  # one of the two
    st.update([p], [1.0])
    assert st.features.program(p) in st.measured_programs()
    for trained in (False, True):  # ranked by prediction alone, then with the novelty bonus
        if trained:
            more = [r for r in (space.sample(rng) for _ in range(40)) if st.features.program(r) is not None]
            st.update(more, list(np.linspace(0.1, 0.9, len(more))))
            other = next(r for r in (space.sample(rng) for _ in range(100))
                         if st.features.program(r) not in st.measured_programs() | {None})
            assert st.model.trained() and st.features.program(q) in st.measured_programs()
        assert st._top({key(q): (10.0, q), key(other): (1.0, other)}, 1) == [other]
    only_the_pair = {k: v for k, v in p.items() if k != "attach"}
    assert st._random(1, only_the_pair) == []  # p is measured, q its copy: nothing left to draw
    assert st.features.program(p) in st.measured_programs(taken=())


def test_annealing_several_layouts_at_once_gives_the_trials_to_the_best_predicted():
    """The loop stage of `alt` anneals its best layouts together (Strategy.anneal_in): each layout
    has its chains, and the picks are the best predicted of all, so a layout the model prefers gets
    the model's share of the batch (not an even split); the random share lands in the layouts only."""
    space = space_for(CONV)
    st = make_strategy("loop-only", space, np.random.default_rng(0), trials=64, hand_seeds=False)
    good, bad = space.memory_layouts()[:2]

    def inside(p, lay):
        return all(p[k] == v for k, v in lay.items())
    st.update([space.sample(np.random.default_rng(1), bad)], [1.0])
    st._score = lambda pts: np.array([1.0 if inside(p, good) else 0.0 for p in pts])
    n = 10
    picks = st.anneal_in(n, [(lay, space.free_knobs(lay)) for lay in (bad, good)])
    n_random = int(round(n * st.explore))
    assert len(picks) == n and len({key(p) for p in picks}) == n
    assert all(inside(p, good) for p in picks[:n - n_random])  # the model's share: all in the preferred layout
    assert all(inside(p, good) or inside(p, bad) for p in picks[n - n_random:])


def test_the_loop_stage_keeps_the_best_layout_of_a_second_memory_order():
    """alt's loop stage searches its `top_layouts` best layouts, and one of them is the best of the
    second-best memory order, however low its short search ranked it: four points cannot rule a
    whole memory order out (C1D-0's channels last, its fastest, ranked last of 8 in some seeds).
    And the joint stage's first batch measures both of C1D's memory orders."""
    space = space_for(Workload("C1D", "C1D-t", (1, 64, 30, 128, 3, 1, 1)))
    st = make_strategy("alt", space, np.random.default_rng(0), trials=8, hand_seeds=False)
    blocked = [lay for lay in space.memory_layouts() if lay["layout"] == "NCc"]
    nsc = [lay for lay in space.memory_layouts() if lay["layout"] == "NSC"]
    assert len(nsc) == 1 and len(blocked) >= 4
    assert space.memory_order(blocked[0]) == {"layout": "NCc"} != space.memory_order(nsc[0])
    for seed in range(4):  # and the joint stage's first batch measures both memory orders (before, by each
        for model in ("gbt", "random"):  # layout's share of new values, channels last came last)
            first = make_strategy("alt", space, np.random.default_rng(seed), 64, hand_seeds=False,
                                  model=model).next_batch(8)
            assert {p["layout"] for p in first} == {"NCc", "NSC"}
    rng = np.random.default_rng(1)
    for i, lay in enumerate(blocked[:4] + nsc):  # channels last has the worst reward
        st.update([space.sample(rng, lay)], [100.0 - 10 * i])
    chosen = [json.loads(lk) for lk in st._loop_layouts()]
    assert chosen == blocked[:st.top_layouts - 1] + nsc
    st.top_layouts = 1  # the single best only
    assert [json.loads(lk) for lk in st._loop_layouts()] == blocked[:1]
    picks = st.next_batch(8)  # the joint budget is spent: the loop stage anneals in its layouts
    assert all(space.memory_layout(p) in blocked[:1] for p in picks)


def test_the_joint_stage_ends_once_every_layout_had_its_short_search(monkeypatch):
    """A GEMM has few layouts: once each has its per_layout points, the rest of the joint budget
    goes to the loop stage (its best layouts, the trials shared by the model), not to more short
    searches in layouts drawn again."""
    space = space_for(Workload("GMM", "GMM-t", (64, 32, 128)))  # n = 32: 4 layouts with 16 lanes, 8 with 8
    budget = 4 * 4 * len(space.memory_layouts())  # a joint stage long enough for two short searches a layout
    st = make_strategy("alt", space, np.random.default_rng(0), trials=budget, hand_seeds=False)
    assert 2 < len(st.layouts) < st.joint_budget // st.per_layout
    rng = np.random.default_rng(1)
    for i, lay in enumerate(st.layouts):
        st.update([space.sample(rng, lay) for _ in range(st.per_layout)], [100.0 - i] * st.per_layout)
        if i < len(st.layouts) - 1:  # a layout short of its search: still the joint stage
            assert not st._every_layout_searched()
    assert st.spent < st.joint_budget and st._every_layout_searched()
    monkeypatch.setattr(st, "_joint", lambda *a: pytest.fail("a joint-stage batch after every layout's search"))
    picks = st.next_batch(8)
    loop = st.layouts[:st.top_layouts]  # the best rewards (each GEMM layout a memory order of its own)
    assert len(picks) == 8 and all(space.memory_layout(p) in loop for p in picks)


def test_a_point_lowering_refuses_is_never_proposed(monkeypatch):
    """A point its space calls valid but whose program lowering refuses has no features, no
    predicted score and is not drawn at random. The conv template refuses this one itself (an
    accumulator tile unrolled far past the registers: attach=1 puts all 128 output channels of
    NCHW's column tile in it, which gcc took over 120 s to compile); here its check is made to miss
    it, as a template that does not count what lowering counts would."""
    import search.conv2d
    monkeypatch.setattr(search.conv2d, "check_unrolled", lambda elements, repeats, target: None)
    space = space_for(Workload("C2D", "R18-4", (1, 128, 28, 128, 3, 1, 1)), alt.Target.parse("avx512"))
    bad = {"attach": 1, "cache_o": 1, "cache_x": 1, "fuse_rx": 0, "ib": 16, "layout": "NCHW", "ob": 8,
           "order": "s-o", "par_depth": 1, "reduce_order": "c-y-x", "spatial": 0, "tile_x": 2, "tile_y": 4,
           "unroll": 1, "winograd": 0}
    assert space.check(bad) is None
    with space.target, pytest.raises(alt.ScheduleError, match="'conv.local', 512 vectors"):
        alt.lower(*space.apply(bad))
    st = make_strategy("loop-only", space, np.random.default_rng(0), trials=64, layout=None, hand_seeds=False)
    assert st.features([bad]) == [None] and st._score([bad])[0] == -np.inf
    fixed = {k: v for k, v in bad.items() if k != "tile_y"}  # tile_y 4 of 1, 2, 4, 8: refused, or not
    picks = st._random(3, fixed)
    assert picks and bad not in picks and all(st.features([p])[0] is not None for p in picks)


def test_alt_strategy_probes_each_layout_with_the_same_points_every_batch():
    """The joint stage scores an untried layout by the best prediction over its probe points, which are
    sampled once: later batches only predict them again (their features are cached)."""
    space = space_for(CONV)
    st = make_strategy("alt", space, np.random.default_rng(0), trials=64, hand_seeds=False)
    lay = enumerate_layouts(space)[0]
    first = st._probe(lay)
    assert st._probe(lay) is first and len(first) == st.LAYOUT_SAMPLES
    assert all(all(p[k] == v for k, v in lay.items()) for p in first)


_PROPOSE = """
import hashlib, sys
import numpy as np
from search.space import space_for
from search.strategy import key, make_strategy
from search.tune import find_workload
st = make_strategy(sys.argv[1], space_for(find_workload(sys.argv[2])), np.random.default_rng(0), 32)
for _ in range(2):
    pts = st.next_batch(8)
    st.update(pts, [float(int(hashlib.md5(key(p).encode()).hexdigest()[:6], 16) % 1000) for p in pts])
    print(*[key(p) for p in pts], sep="\\n")
"""


@pytest.mark.parametrize("strategy,workload", [("alt", "R18-8"), ("alt", "GRP-0"), ("layout-then-loop", "R18-8")])
def test_a_seeded_search_proposes_the_same_points_in_every_process(strategy, workload):
    """One seed, one search: processes whose string hashes differ (PYTHONHASHSEED, as two runs
    differ) propose the same points. The joint search summed its layouts' exploration gains over
    sets as floats; equal gains differed in the last bit with the set's order, and a tie went to
    another layout from run to run (R18-8's first batch)."""
    import os
    import subprocess
    import sys
    out = []
    for seed in ("0", "5"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        out.append(subprocess.run([sys.executable, "-c", _PROPOSE, strategy, workload], env=env, check=True,
                                  capture_output=True, text=True, timeout=300).stdout)
    assert out[0].count("\n") == 16 and out[0] == out[1]


def test_the_model_is_fitted_when_next_asked_not_at_each_update():
    """update() only records: the model is refitted to every measured point the first time it is
    asked after new measurements (a run's last batch is never fitted to), and tune reports the
    fitting apart from proposing."""
    fits = []

    class Counting(GBTModel):
        def fit(self, X, y):
            fits.append(len(y))
            return super().fit(X, y)

    space = space_for(CONV)
    st = make_strategy("loop-only", space, np.random.default_rng(0), 32)
    st.model = Counting(seed=0)
    for _ in range(3):
        pts = st.next_batch(4)
        st.update(pts, [fake_gflops(p) for p in pts])
    assert fits == [4, 8]  # before the 2nd and 3rd batches; the 3rd batch's measurements not yet
    assert st.model.trained() and fits == [4, 8, 12] and st.fit_seconds > 0
    st.model.predict(np.zeros((1, LENGTH)))
    assert fits == [4, 8, 12]  # nothing new measured: no refit
    st.model = Counting(seed=1)  # a model set later is fitted to what is measured when first asked
    assert st.model.trained() and fits == [4, 8, 12, 12]
    stats = {}
    tune(GEMM, trials=8, batch=4, quiet=True, stats=stats, build=False,
         measure_options={"repeat": 2, "min_time": 0.001})
    assert 0 < stats["fit"] < stats["propose"] + stats["fit"]
