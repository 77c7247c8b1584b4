"""Transfer learning of the cost model: other workloads' records warm it before the first proposal."""
import numpy as np
import pytest
from scipy.stats import spearmanr

from alt import expr as E
from alt import stmt as S
from alt.lower import lower

from alt.errors import OptionError
from alt.ops import Workload
from alt.target import current
from search import records as R
from search.space import space_for
from search.strategy import make_strategy
from search.transfer import transfer_data
from search.tune import tune

A = Workload("C2D", "tr-A", (1, 16, 10, 32, 3, 1, 1))
B = Workload("C2D", "tr-B", (1, 32, 12, 64, 3, 1, 1))


def _accumulators(space, point):
    """The elements of the accumulator tile the point's program updates inside its innermost
    reduction loop (the loops inside it that index the output): the register tile actually built.
    (Not the knobs' tile_x * tile_y: where the accumulator is computed at an outer loop, the tile
    spans a whole row of the output.)"""
    def walk(s, loops):
        if isinstance(s, S.For):
            yield from walk(s.body, loops + [s])
        elif isinstance(s, (S.Block,)):
            for x in s.stmts:
                yield from walk(x, loops)
        elif isinstance(s, S.If):
            yield from walk(s.body, loops)
        elif isinstance(s, S.Store) and any(isinstance(e, S.Load) and e.buffer is s.buffer for e in E.walk(s.value)):
            tile = 1
            for lp in reversed(loops):
                if not any(E.uses(i, lp.var) for i in s.indices):
                    break
                tile *= lp.extent
            yield tile
    sch, args = space.apply(point)
    return max(walk(lower(sch, args).body, []), default=1)


def _fabricated_log(path, w, n=40, seed=0):
    """Records of `w` whose throughput grows with the accumulator tile of its program (a law of the
    program, so that the model can learn it from features alone), as if measured here."""
    space, rng = space_for(w), np.random.default_rng(seed)  # the target in effect: ALT_TARGET may name another
    log = R.Log(path)
    for _ in range(n):
        p = space.sample(rng, {"winograd": 0})  # the law is about direct convolutions' register tiles
        gflops = 10.0 * _accumulators(space, p)
        log.append(R.make(w, p, [w.flops / gflops / 1e9] * 3, strategy="alt", target=current()))
    return space


def test_transfer_data_is_other_workloads_normalized_to_their_best(tmp_path):
    _fabricated_log(tmp_path / "a.jsonl", A)
    _fabricated_log(tmp_path / "b.jsonl", B, n=10)
    X, y = transfer_data([tmp_path / "a.jsonl", tmp_path / "b.jsonl"], B, current())
    assert X.shape[0] == 40 and y.max() == pytest.approx(1.0) and 0 < y.min() < 1  # B's own records left out
    assert transfer_data(tmp_path / "a.jsonl", A, current())[0].shape[0] == 0


def test_a_transferred_model_ranks_a_new_workloads_points_before_it_measures_any(tmp_path):
    _fabricated_log(tmp_path / "a.jsonl", A, n=80)
    prior = transfer_data(tmp_path / "a.jsonl", B, current())
    space = space_for(B)
    strat = make_strategy("alt", space, np.random.default_rng(0), 32, prior=prior)
    assert strat.model.trained() and not strat.seen
    pts = [space.sample(np.random.default_rng(100 + i), {"winograd": 0}) for i in range(60)]
    pred = strat._score(pts)
    truth = [_accumulators(space, p) for p in pts]
    rank = spearmanr(pred, truth)[0]  # ties (equal tiles) get their mean rank
    assert rank > 0.6, rank  # Spearman's rho of 60 points: above 0.4 by chance about once in 1000
    cold = make_strategy("alt", space, np.random.default_rng(0), 32)
    assert not cold.model.trained() and np.all(cold._score(pts) == 0)  # no preference without data


def test_transfer_needs_the_gradient_boosted_model_and_an_existing_log(tmp_path):
    with pytest.raises(OptionError, match="warm-starts the gradient-boosted"):
        tune(B, trials=4, model="random", transfer=str(tmp_path / "a.jsonl"))
    with pytest.raises(OptionError, match="does not exist"):
        tune(B, trials=1, transfer=str(tmp_path / "missing.jsonl"), quiet=True, build=False)


def test_a_misleading_prior_is_overruled_by_a_batch_of_this_workloads_measurements():
    """The prior says the first feature is good; this workload's truth is the opposite (a Winograd
    algorithm fast where the logs came from and slow here). The prior ranks the first proposals;
    from min_samples measurements on, the model fitted to the prior's errors turns the ranking."""
    from search.model import GBTModel
    rng = np.random.default_rng(0)
    Xp = rng.random((1024, 5))
    test = rng.random((200, 5))
    truth = 1.0 - test[:, 0]
    for n, sign in ((0, -1), (4, -1), (8, 1), (32, 1)):
        X = rng.random((n, 5))
        m = GBTModel(prior=(Xp, Xp[:, 0])).fit(X, 1.01 - X[:, 0])
        rho = spearmanr(m.predict(test), truth)[0]
        assert m.trained() and rho * sign > 0.7, (n, rho)
