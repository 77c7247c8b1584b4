"""Search strategies, ask/tell: `next_batch(n)` proposes points not measured yet, `update(points,
scores)` feeds back measured throughput (GFLOP/s; 0 for a failed candidate).

All strategies share the cost model (retrained after every batch), simulated annealing (AutoTVM's
recipe: parallel chains, a linear cooling schedule, the top-k seen kept) and a share of random
picks for exploration, so ablations compare like with like. A trained model's picks also weigh how
far a candidate lies from everything measured (its features' distance to the nearest measured
point, see `Strategy.novelty`): the model cannot rank a region it has no measurement of (a Winograd
algorithm, a cache order), so a far candidate gets the benefit of the doubt, as an optimistic
(upper-confidence) search gives it:

  alt               ALT's cross-exploration: a joint stage where sampled layouts each get a short
                    loop search whose best result is the layout's reward, then a loop stage on the
                    best layouts, annealed together so that the model shares the trials out among
                    them (joint_share of the budget goes to the first stage, less once every
                    layout has had its short search)
  loop-only         the space's default layout fixed, loops tuned (ALT-OL)
  layout-then-loop  the layout picked by the cost model alone after a first random batch, then
                    loops tuned on it (the one-way workflow)
  random            uniform samples, no cost model
"""
import json
import math
import time

import numpy as np

from alt.errors import OptionError

from .featurize import Featurizer, key
from .model import TARGETS, GBTModel, RandomModel


class Strategy:
    NOVELTY = 0.2  # the bonus, in the model's units (log of the best-normalized throughput: 0.2 is about 20%), of
    # a candidate as far from every measured point as measured points typically are from each other (twice as far
    # or more: twice the bonus)

    def __init__(self, space, rng, model=None, explore=0.2, chains=16, steps=24, patience=4, hand_seeds=True,
                 novelty=None, model_target=None, model_features=None):
        self.space, self.rng = space, rng
        if novelty is not None:
            self.NOVELTY = novelty
        self.hand_seeds = hand_seeds  # measure the space's seeds (the target's hand schedules) first
        self._model = model if model is not None else _gbt(rng, None, model_target, model_features)
        self._stale = False  # measured points the model has not been fitted to yet
        self.fit_seconds = 0.0  # spent fitting the model
        self.explore, self.chains, self.steps = explore, chains, steps
        self.patience = patience  # annealing steps without a change in its best points before it stops
        self.features = Featurizer(space)
        self.seen = {}  # key -> score
        self.points = {}  # key -> point
        self._ref = (None,)  # (measurements it was computed at, their features, their typical distance)
        self._programs, self._unread = set(), []  # the measured points' programs; measured keys not read yet

    # ask / tell ---------------------------------------------------------------------------------
    def next_batch(self, n):
        raise NotImplementedError

    def update(self, points, scores):
        for p, s in zip(points, scores):
            self.seen[key(p)] = float(s)
            self.points[key(p)] = p
            self._unread.append(key(p))
        self._stale = self._stale or bool(points)

    def measured_programs(self, taken=()):
        """The programs (Featurizer.program) of the measured points and of the points keyed in
        `taken`, as a new set: a candidate that lowers to one of them is a copy, and no strategy
        proposes it (MetaSchedule skips a candidate whose module's structural hash was measured):
        a copy of the best point has the best prediction, so the model picked copies; C1D-0 spent
        up to 17 of 64 trials on them."""
        if self._unread:
            points = [self.points[k] for k in self._unread]
            self.features(points)  # one batch (a resumed run's whole log)
            self._programs.update(self.features.program(p) for p in points)
            self._unread = []
        out = self._programs | {self.features.programs.get(k) for k in taken}
        out.discard(None)
        return out

    @property
    def model(self):
        """The cost model, fitted to every measured point: refitted when first asked after new
        measurements, not at each update (a tuning run's last batch, and a network task's one
        batch, leave it unused)."""
        if self._stale:
            self._stale = False
            t0 = time.perf_counter()
            feats = self.features(list(self.points.values()))
            X = [f for f in feats if f is not None]
            y = [self.seen[k] for k, f in zip(self.points, feats) if f is not None]
            if X:
                self._model.fit(np.array(X), np.array(y))
            self.fit_seconds += time.perf_counter() - t0
        return self._model

    @model.setter
    def model(self, m):
        """Another cost model (an ablation's): fitted to what is measured when first asked."""
        self._model, self._stale = m, bool(self.seen)

    # helpers ------------------------------------------------------------------------------------
    def best(self, fixed=None):
        good = [(s, self.points[k]) for k, s in self.seen.items()
                if s > 0 and all(self.points[k][a] == b for a, b in (fixed or {}).items())]
        return max(good, key=lambda t: t[0]) if good else (0.0, None)

    def _score(self, points):
        feats = self.features(points)
        ok = [i for i, f in enumerate(feats) if f is not None]
        out = np.full(len(points), -np.inf)
        if ok:
            out[ok] = self.model.predict(np.array([feats[i] for i in ok]))
        return out

    def _reference(self):
        """(the measured points' features, the median distance from one to its nearest other), kept
        until the next measurement."""
        if self._ref[0] != len(self.seen):
            X = np.array([f for f in self.features(list(self.points.values())) if f is not None])
            self._ref = (len(self.seen), X, spacing(X))
        return self._ref[1:]

    def novelty(self, points, near=None):
        """How far each of `points` lies from the measured points (and `near`, a feature matrix of
        points picked but not yet measured), in units of the typical distance between measured
        points (each one's distance to its nearest other), capped at 2; 0 for a rejected point.
        All zeros while the model is untrained or fewer than 3 points are measured (no scale)."""
        X, scale = self._reference()
        if not self.model.trained() or not scale > 0:
            return np.zeros(len(points))
        ref = X if near is None or not len(near) else np.vstack([X, near])
        return _bonus(_nearest(self.features(points), ref), scale)

    def _top(self, found, n, taken=()):
        """The n best points of annealing's `found` {key: (score, point)} not measured (nor in
        `taken`, nor lowering to the program of one of those or of another pick): greedily, the
        highest predicted score plus `NOVELTY` times the distance to what is measured or picked
        already (so a batch does not spend its trials on near-copies of one point), among the 3n
        best-predicted."""
        ranked = sorted(((k, t) for k, t in found.items() if k not in self.seen and k not in taken and t[0] > -np.inf),
                        key=lambda kt: -kt[1][0])
        copies, pool = self.measured_programs(taken), []
        for k, t in ranked:  # the first point of each program not measured
            if _new_program(self.features.programs.get(k), copies):
                pool.append(t)
                if len(pool) == 3 * n:
                    break
        if not pool or not self.model.trained():
            return [p for _, p in pool[:n]]
        X, scale = self._reference()
        picked = diverse_picks([s for s, _ in pool], self.features([p for _, p in pool]), X, scale, n, self.NOVELTY)
        return [pool[i][1] for i in picked]

    def _measured_algorithms(self):
        """The (knob, value) pairs of the space's algorithm knobs (`leading`) some measured point has."""
        return {(k, p[k]) for p in self.points.values() for k in self.space.leading if k in p}

    def _random(self, n, fixed=None, taken=(), cover=True):
        """n random points not measured yet (nor in `taken`), none that lowering refuses. With
        `cover`, the algorithms (values of the space's `leading` knobs) that `fixed` allows and no
        measured point has come first, one point each in random order: every Winograd point of
        R18-4 beats every direct one, and a model cannot rank an algorithm it has no measurement of
        (seeds that drew none in their random share ended at half the speed)."""
        out, tries = [], 0
        copies = self.measured_programs(taken)  # and the programs of `out`

        def fresh(p):
            return p is not None and key(p) not in self.seen and key(p) not in taken and p not in out

        def take(chunk):  # featurized as one batch (split over the pool), then taken in order
            self.features([p for p in chunk if fresh(p)])
            for p in chunk:
                if fresh(p) and self.features([p])[0] is not None and _new_program(self.features.program(p), copies):
                    out.append(p)

        unmeasured = {(k, v) for k in self.space.leading for v in self.space.knobs.get(k, ())} if cover else set()
        if unmeasured:  # the measured points are read only where there are algorithms to cover
            unmeasured -= self._measured_algorithms()
        if unmeasured:
            found = self.space.algorithms(self.rng, fixed)
            todo = sorted((kv for kv in found if kv in unmeasured), key=str)
            todo = [found[todo[i]] for i in self.rng.permutation(len(todo))]
            while todo and len(out) < n:
                m = n - len(out)
                take(todo[:m])
                todo = todo[m:]
        # as many draws as points are missing, a batch at a time: no draw is left over, so the draws
        # (and the generator's state after them) are those of taking one point at a time
        while len(out) < n and tries < 50 * n:
            m = min(n - len(out), 50 * n - tries)
            tries += m
            take([self.space.sample(self.rng, fixed) for _ in range(m)])
        return out

    def anneal(self, n, fixed=None, knobs=None, seeded=True):
        """Simulated annealing against the cost model: the n best unmeasured points found, a share
        of them replaced by random ones for exploration; the space's seeds (the target's hand
        schedules) that match `fixed` come first until measured. `seeded=False`: no hand seed is
        proposed (the caller's batch holds them already)."""
        return self.anneal_in(n, [(fixed, knobs)], seeded)

    def anneal_in(self, n, regions, seeded=True):
        """`anneal` over several regions of the space at once, each (fixed, knobs): every region
        gets its own chains (16 for one or two regions, then 32 shared out), which stop once the
        region's even share of the picks settles, and the picks are the best of everything found,
        so the model decides how many each region gets; the random share is drawn in regions chosen
        at random."""
        def inside(p):
            return any(all(p[a] == b for a, b in (fixed or {}).items()) for fixed, _ in regions)
        seeds = [p for p in self.space.seeds() if key(p) not in self.seen and inside(p)][:n] \
            if seeded and self.hand_seeds else []
        if seeds:
            return seeds + (self.anneal_in(n - len(seeds), regions, seeded=False) if n > len(seeds) else [])
        taken = set() if seeded else {key(p) for p in self.space.seeds()}
        n_random = int(round(n * self.explore)) if self.seen or self.model.trained() else n
        chains = max(4, self.chains * min(2, len(regions)) // len(regions))
        share = -(-(n - n_random) // len(regions))  # a region's annealing stops once its best `share` settle
        found = {}
        for fixed, knobs in regions if n_random < n else ():
            found.update(self._annealed(share, fixed, knobs, taken, chains))
        picked = self._top(found, n - n_random, taken) if found else []
        taken = taken | {key(p) for p in picked}
        if len(regions) == 1:
            return picked + self._random(n - len(picked), regions[0][0], taken)
        where = self.rng.integers(len(regions), size=n - len(picked))
        for i in range(len(regions)):
            more = self._random(int((where == i).sum()), regions[i][0], taken) if (where == i).any() else []
            picked, taken = picked + more, taken | {key(p) for p in more}
        return picked

    def _annealed(self, m, fixed, knobs, taken, chains):
        """{key: (predicted score, point)} of every point annealing visits in the region `fixed`
        (moving `knobs`) with `chains` chains, half of them started from its best measured points;
        it stops early once its m best unmeasured points (`_top`) stop changing. Empty where no
        chain can start."""
        starts = [p for _, p in sorted(((s, self.points[k]) for k, s in self.seen.items()
                                        if all(self.points[k][a] == b for a, b in (fixed or {}).items())),
                                       key=lambda t: -t[0])][:chains // 2]
        starts += self._random(chains - len(starts), fixed, cover=False)
        if not starts:
            return {}
        chain = list(starts)
        scores = list(self._score(chain))
        found = {key(p): (s, p) for p, s in zip(chain, scores)}
        top, still = None, 0
        for step in range(self.steps):
            temp = 1.0 - step / self.steps
            props = [self.space.neighbor(p, self.rng, knobs) or p for p in chain]
            new = self._score(props)
            for i, (p, s) in enumerate(zip(props, new)):
                found.setdefault(key(p), (s, p))
                d = s - scores[i]
                if d >= 0 or self.rng.random() < math.exp(d / max(temp * 0.05, 1e-6)):
                    chain[i], scores[i] = p, s
            now = self._top(found, m, taken)
            still = still + 1 if now == top else 0
            top = now
            if still >= self.patience:  # AutoTVM's early stop: the points to propose stopped changing
                break
        return found


class RandomStrategy(Strategy):
    def __init__(self, space, rng, **kw):
        super().__init__(space, rng, model=RandomModel(rng), **kw)

    def next_batch(self, n):
        return self._random(n, cover=False)  # uniform draws: the baseline of every search


class LoopOnly(Strategy):
    """Loops tuned on a fixed layout (the space's default): every knob the layout does not fix is
    tuned (a layout knob that lays nothing out under it, an NHWC convolution's channel tiles, too)."""

    def __init__(self, space, rng, layout=None, **kw):
        super().__init__(space, rng, **kw)
        self.layout = layout or space.default_layout()
        self.knobs = space.free_knobs(self.layout)

    def next_batch(self, n):
        return self.anneal(n, fixed=self.layout, knobs=self.knobs)


class LayoutThenLoop(Strategy):
    """A first random batch trains the model; the model alone then picks the (memory) layout for good."""

    def __init__(self, space, rng, **kw):
        super().__init__(space, rng, **kw)
        self.layout = None

    def next_batch(self, n):
        if not self.seen:
            return self._random(n)
        if self.layout is None:
            best, best_score = None, -np.inf
            for lay in self.space.memory_layouts():
                samples = [self.space.sample(self.rng, lay) for _ in range(8)]
                score = float(np.max(self._score(samples)))
                if score > best_score:
                    best, best_score = lay, score
            self.layout = best
        return self.anneal(n, fixed=self.layout, knobs=self.space.free_knobs(self.layout))


class AltStrategy(Strategy):
    """ALT's cross-exploration in two stages over a budget of `trials` measurements. Its layouts are
    the space's memory layouts (Space.memory_layouts): a layout knob that lays nothing out under the
    others (an NHWC convolution's channel tiles) is tuned with the loops, as loop-only tunes it. As
    layouts of their own, each tile value counted as one more layout: channels last was 15 of
    C1D-0's 30 layouts, beside 15 blocked ones, so exploration drew it 15 times as often as any
    other memory order, and the second stage searched it at the one or two tile values its first
    stage had found best."""

    LAYOUT_SAMPLES = 8  # loop points per untried layout whose best prediction is the layout's score (16 cost 20%
    # more proposing time for the same best kernels: R18-4 and R18-8, 3 seeds x 64 trials each)

    def __init__(self, space, rng, trials=64, joint_share=0.5, per_layout=4, top_layouts=3, **kw):
        super().__init__(space, rng, **kw)
        self.joint_budget = int(trials * joint_share)
        self.per_layout, self.top_layouts = per_layout, top_layouts
        self.layouts = space.memory_layouts()
        self.reward = {}  # layout key -> best GFLOP/s of its short loop search
        self.count = {}  # layout key -> points measured in it
        self.spent = 0
        self._owed = 0.0  # random layouts owed to exploration (the share accrues over batches)
        self._probes = {}  # layout key -> its probe points (see _probe)
        self._algorithms = {key(lay): _pairs(space.algorithms(rng, lay)) for lay in self.layouts}
        self._offers = {k: _values(json.loads(k)) | algos for k, algos in self._algorithms.items()}
        # layout key -> the algorithms its points can have, and those with its knob values (see _explore_layouts)
        counts = {}
        for offer in self._offers.values():
            for kv in offer:
                counts[kv] = counts.get(kv, 0) + 1
        self._share = counts  # (knob, value) -> how many layouts have it: their share, in whole numbers, so
        # that a layout's sum over its values (a set) is the same in any order (as floats, equal sums differed in
        # the last bit with the order of a set of strings, which changes with each process: argmax broke the tie
        # differently, and a seeded search proposed other layouts from one run to the next)

    def _layout_of(self, p):
        return self.space.memory_layout(p)

    def update(self, points, scores):
        super().update(points, scores)
        self.spent += len(points)
        for p, s in zip(points, scores):
            k = key(self._layout_of(p))
            self.reward[k] = max(self.reward.get(k, 0.0), float(s))
            self.count[k] = self.count.get(k, 0) + 1

    def next_batch(self, n):
        seeds = [p for p in self.space.seeds() if key(p) not in self.seen][:n] if self.hand_seeds else []
        if seeds:  # the target's hand schedules first, each with its own layout (TVM's default config)
            rest = self.next_batch_unseeded(n - len(seeds), seeded=False) if n > len(seeds) else []  # all
            # the hand seeds not measured are in this batch: the layouts' annealing proposes none again
            return seeds + [p for p in rest if p not in seeds][:n - len(seeds)]
        return self.next_batch_unseeded(n)

    def next_batch_unseeded(self, n, seeded=True):
        """The next n points after the hand seeds; `seeded=False`: the layouts' annealing proposes
        no hand seed (they are in this batch already)."""
        if self.spent < self.joint_budget and not self._every_layout_searched():
            return self._joint(n, seeded)
        layouts = [json.loads(lk) for lk in self._loop_layouts()] or [self.space.default_layout()]
        out = self.anneal_in(n, [(lay, self.space.free_knobs(lay)) for lay in layouts], seeded)
        return out[:n] if len(out) >= n else out + self._random(n - len(out))

    def _every_layout_searched(self):
        """Has every layout had its short search (per_layout points)? Then the joint stage has no
        layout left to learn about, and the rest of its budget goes to the loop stage, where the
        model shares the trials out among the best layouts. (GMM-1 has 4 layouts: its joint stage
        spent 16 more trials on short searches in layouts drawn again, each batch split evenly.)"""
        return all(self.count.get(key(lay), 0) >= self.per_layout for lay in self.layouts)

    def _loop_layouts(self):
        """The loop stage's layouts (keys): the `top_layouts` best by their short search's reward,
        with the best layout of the second-best memory order (Space.memory_order) among them: four
        points are too few to rule a whole memory order out. C1D-0's channels last (loop-only on it
        reaches 342 GFLOP/s, the blocked layouts under 300) ranked 6th to 8th of 8 measured layouts
        in 3 of 10 seeds, and the loop stage then searched three blocked layouts only. Annealed
        together (anneal_in), a layout the model rates low gets few trials."""
        ranked = sorted(self.reward, key=lambda k: -self.reward[k])
        orders = {}  # memory order -> its best layout, best first
        for lk in ranked:
            orders.setdefault(self._order(json.loads(lk)), lk)
        must = list(orders.values())[:min(2, self.top_layouts)]
        rest = [lk for lk in ranked if lk not in must][:self.top_layouts - len(must)]
        return [lk for lk in ranked if lk in must or lk in rest]

    def _in_layouts(self, layouts, n, seeded):
        """About n points annealed in `layouts` (their free knobs), shared out evenly."""
        out = []
        for i, lay in enumerate(layouts):
            share = n // len(layouts) + (1 if i < n % len(layouts) else 0)
            out += [p for p in self.anneal(share, fixed=lay, knobs=self.space.free_knobs(lay), seeded=seeded)
                    if p not in out]
        return out

    def _random_layouts(self, k):
        """How many of the next `k` layouts are random: `explore` of them over the stage. (Rounding
        each batch's share up to one made half of them random with 2 layouts a batch.)"""
        self._owed += k * self.explore
        n = min(k, int(self._owed))
        self._owed -= n
        return n

    def _probe(self, lay):
        """The loop points that score an untried layout: sampled once, so that each later batch only
        predicts them again with the retrained model (their features are cached); sampling anew
        every batch lowered 16 fresh points per layout, most of the proposing time."""
        k = key(lay)
        if k not in self._probes:
            self._probes[k] = [self.space.sample(self.rng, lay) for _ in range(self.LAYOUT_SAMPLES)]
        return self._probes[k]

    def _explore_layouts(self, candidates, m, chosen=()):
        """m layouts of `candidates` for exploration, one at a time: each the one with the most of
        what a model cannot rank without a measurement (a memory order, Space.memory_order, and
        algorithms nothing has measured or chosen), then whose values not yet tried cover the
        largest share of the space's layouts, ties drawn at random. (By share alone, C1D-0's
        channels last, one layout of 16 whose one new value no other layout has, came after every
        blocked layout's new block sizes, and 2 seeds of 5 never measured it.) A layout's
        values are its layout knobs' (tried once a measured layout has them) and the algorithms its
        points can have (`Space.algorithms`; tried once a measured point has them); a layout chosen
        before it counts as tried. So the random picks go first to the families nothing has
        measured: a model that has seen NHWC and NCHW ranks NHWC variants above an unseen NCHWc (it
        cannot rank what it has no measurement of), and a uniform pick had to land on NCHWc by luck
        (on R18-8, one seed of six spent its whole joint stage without it and ended at half the
        speed of the others). The same for an algorithm only some layouts allow (R18-4's Winograd
        tiles: 11 of its 66 layouts). Once every value is tried, the picks are uniform."""
        tried = {kv for lk in self.reward for kv in _values(json.loads(lk))} | _pairs(self._measured_algorithms())
        tried |= {kv for lay in chosen for kv in self._offers[key(lay)]}
        orders = {self._order(json.loads(lk)) for lk in self.reward} | {self._order(lay) for lay in chosen}
        pool, out = [candidates[i] for i in self.rng.permutation(len(candidates))], []
        while pool and len(out) < m:
            gain = [(int(self._order(lay) not in orders) + len(self._algorithms[key(lay)] - tried),
                     sum(self._share[kv] for kv in self._offers[key(lay)] if kv not in tried)) for lay in pool]
            lay = pool.pop(max(range(len(pool)), key=gain.__getitem__))  # the first of the largest, in the random order
            out.append(lay)
            tried |= self._offers[key(lay)]
            orders.add(self._order(lay))
        return out

    def _order(self, layout):
        return key(self.space.memory_order(layout))

    def _joint(self, n, seeded=True):
        """Layouts to try next: the model's favourites among unexplored ones, and random ones; in the
        stage's last batch (or once every layout is explored) first those measured short of their
        loop search. A hand seed's one point is no loop search: a layout judged by it lost to
        layouts searched four points deep (C1D-0's channels last, whose seed has half the
        best tile's speed). Its search comes last, from a model that has learnt from every other
        layout's (which tiles pay carries over: searched in the second batch, channels last's four
        points found nothing faster than its seed, three seeds of three)."""
        k = max(1, n // self.per_layout)
        untried = [lay for lay in self.layouts if key(lay) not in self.reward]
        last = self.spent + n >= self.joint_budget or not untried
        chosen = [lay for lay in self.layouts if 0 < self.count.get(key(lay), 0) < self.per_layout][:k] if last else []
        if len(chosen) < k:
            chosen += self._new_layouts(untried, k - len(chosen), chosen)
        return self._in_layouts(chosen, n, seeded)[:n]

    def _new_layouts(self, untried, k, chosen):
        """k layouts not measured yet: the model's favourites and random ones."""
        if untried and self.model.trained():
            probes = [p for lay in untried for p in self._probe(lay)]
            self.features(probes)  # one batch: split over the pool
            value = (self._score(probes) + self.NOVELTY * self.novelty(probes)).reshape(len(untried), -1)
            scored = sorted(zip(value.max(1).tolist(), range(len(untried))), key=lambda t: -t[0])
            scored = [(v, untried[i]) for v, i in scored]
            n_model = k - self._random_layouts(k)
            picked = [lay for _, lay in scored[:n_model]]
            return picked + self._explore_layouts([lay for _, lay in scored[n_model:]], k - len(picked),
                                                  list(chosen) + picked)
        return self._explore_layouts([lay for lay in untried or self.layouts if lay not in chosen] or self.layouts,
                                     k, chosen)


def _new_program(prog, copies):
    """Is program `prog` none of `copies`? If so it joins them. None (not known) is never a copy."""
    if prog in copies:
        return False
    if prog is not None:
        copies.add(prog)
    return True


def spacing(X):
    """The typical distance between the rows of feature matrix X: the median of each one's distance
    to its nearest other; 0 with fewer than 3 rows (no scale)."""
    if len(X) < 3:
        return 0.0
    d = np.sqrt(((X[:, None, :] - X[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(d, np.inf)
    return float(np.median(d.min(1)))


def diverse_picks(score, feats, measured, scale, n, novelty):
    """The indices of n candidates (`score`: predicted, `feats`: their features, None for a rejected
    one) picked one at a time (Strategy._top's rule): the highest score plus `novelty` times the
    distance to the nearest of `measured` (a feature matrix) and the picks so far, in units of
    `scale` (spacing) and capped at 2; by score alone where `scale` is 0."""
    score = np.asarray(score, float)
    nearest = _nearest(feats, measured) if scale > 0 else None  # each one's distance to what is measured or picked
    picked = []
    while len(picked) < min(n, len(score)):
        value = score + novelty * (_bonus(nearest, scale) if nearest is not None else 0.0)
        i = max((j for j in range(len(score)) if j not in picked), key=lambda j: value[j])
        picked.append(i)
        if feats[i] is not None and nearest is not None:
            nearest = np.minimum(nearest, _nearest(feats, feats[i][None, :]))
    return picked


def _bonus(nearest, scale):
    return np.where(np.isfinite(nearest), np.minimum(2.0, nearest / scale), 0.0)


def _nearest(feats, ref):
    """Each feature vector's distance to its nearest row of `ref`; inf for None (a rejected point)."""
    out = np.full(len(feats), np.inf)
    ok = [i for i, f in enumerate(feats) if f is not None]
    if ok and len(ref):
        F = np.array([feats[i] for i in ok])
        rows = max(1, (1 << 20) // ref.size)  # a block of rows at a time: a few MB however many are measured
        out[ok] = np.concatenate([np.sqrt(((F[i:i + rows, None, :] - ref[None, :, :]) ** 2).sum(-1)).min(1)
                                  for i in range(0, len(F), rows)])
    return out


def _values(layout):
    """A layout's (knob, value) pairs, hashable whatever the values are."""
    return _pairs(layout.items())


def _pairs(pairs):
    """(knob, value) pairs made hashable whatever the values are."""
    return {(k, json.dumps(v, sort_keys=True)) for k, v in pairs}


MODELS = ("gbt", "random")  # cost models: gradient boosting, or none (random guidance)
STRATEGIES = {"alt": AltStrategy, "loop-only": LoopOnly, "layout-then-loop": LayoutThenLoop,
              "random": RandomStrategy}


# the settings a caller may change, per strategy ("*": every strategy's): name -> (type, least, most),
# or for a setting that names a choice, name -> (str, the choices)
OPTIONS = {"*": {"explore": (float, 0.0, 1.0), "novelty": (float, 0.0, 2.0), "chains": (int, 2, 256),
                 "steps": (int, 1, 256), "patience": (int, 1, 256), "model_target": (str, TARGETS),
                 "model_features": (float, 0.05, 1.0)},
           "alt": {"joint_share": (float, 0.0, 1.0), "per_layout": (int, 1, 64), "top_layouts": (int, 1, 64)}}

# settings of the cost model alone: a strategy guided by noise ignores them
MODEL_OPTIONS = ("model_target", "model_features")


def check_strategy_options(name, options, where="strategy"):
    """`options` ({setting: value}, values as numbers or their text) checked against strategy
    `name`'s OPTIONS; returns them as numbers of the right type. An OptionError names the bad one."""
    allowed = {**OPTIONS["*"], **OPTIONS.get(name, {})}
    out = {}
    for opt, value in (options or {}).items():
        if opt not in allowed:
            raise OptionError(f"{where}: {opt!r} is not a setting of strategy {name!r}; it has {sorted(allowed)}")
        kind, *bounds = allowed[opt]
        if kind is str:
            if value not in bounds[0]:
                raise OptionError(f"{where}: {opt}={value!r} for strategy {name!r}; give one of {list(bounds[0])}")
            out[opt] = value
            continue
        low, high = bounds
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = None
        if kind is int and number is not None:
            number = int(number) if number.is_integer() else None
        if isinstance(value, bool) or number is None or not low <= number <= high:
            raise OptionError(f"{where}: {opt}={value!r} for strategy {name!r}; give "
                              f"{'a whole number' if kind is int else 'a number'} from {low} to {high}")
        out[opt] = number
    return out


def make_strategy(name, space, rng, trials, model="gbt", layout=None, hand_seeds=True, prior=None, options=None):
    """Strategy `name` over `space`; `layout` fixes the layout knobs of loop-only (default: the
    space's default layout), and is checked against the space. `hand_seeds=False` leaves out the
    target's hand schedules that model-guided strategies measure first (an ablation of the search
    itself). `prior` (X, y) warm-starts the gradient-boosted model (search.transfer). `options`
    changes the strategy's settings (OPTIONS: the random share, the novelty bonus, annealing's
    chains and steps, alt's joint share and layout counts), for ablations."""
    if name not in STRATEGIES:
        raise OptionError(f"strategy={name!r} is not a search strategy; use one of {sorted(STRATEGIES)}")
    if model not in MODELS:
        raise OptionError(f"model={model!r} is not a cost model; use one of {list(MODELS)}")
    kw = {"trials": trials} if name == "alt" else {}
    kw.update(check_strategy_options(name, options))
    kw["hand_seeds"] = bool(hand_seeds)
    if layout is not None:
        bad = {k: v for k, v in layout.items() if k not in space.layout_knobs or v not in space.knobs[k]}
        if bad or name != "loop-only":
            raise OptionError(f"layout={layout!r}: fixes loop-only's layout knobs {list(space.layout_knobs)} with "
                              f"values among {[space.knobs[k] for k in space.layout_knobs]}")
        kw["layout"] = layout
    if model == "random" and name != "random":
        kw["model"] = RandomModel(rng)
    elif prior is not None and name != "random":
        kw["model"] = _gbt(rng, prior, kw.get("model_target"), kw.get("model_features"))
    return STRATEGIES[name](space, rng, **kw)


def _gbt(rng, prior, target, features):
    """A gradient-boosted cost model seeded from `rng`; `target` and `features` None: GBTModel's defaults."""
    return GBTModel(seed=int(rng.integers(1 << 31)), prior=prior, target=target,
                    **({} if features is None else {"features": features}))
