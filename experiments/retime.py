"""Time the kernels that different tuning runs picked side by side, in one process and in shuffled
rounds, so that runs can be compared by what they found rather than by when they ran.

A run's best-so-far curve is made of times taken while that run measured: a comparison of two runs'
curves also compares the machine's speed in two different minutes, and picks each run's luckiest
timing (the winner's curse). Both matter once the searches reach the same plateau: on a 2-core
AVX-512 Xeon VM, the logged bests of 16 ablation runs of BMM-0 ranged over 60-70 us, and timed side
by side 15 of those 16 kernels ran in 60-64 us.

`picks(log, w, target, at)` is the point a run would return after each trial count in `at` (its
fastest logged candidate so far); `side_by_side(w, points, rounds)` their fastest times over
`rounds` shuffled rounds, every run checked against the reference as in tuning. The fastest, as the
tuner scores a candidate by its fastest repeat: a slow machine only lengthens a timing. A median
of rounds follows the machine: on a 2-core AMD EPYC VM, 20 kernels of C1D-0 timed in 6 rounds each
ran 1.25-2.6x apart between their fastest and slowest rounds; their fastest round came within 4% of
what their runs had logged for 17 of them, their median round at 0.70-1.16x of it.
"""
import numpy as np

from search import records as R
from search.measure import Measurer
from search.strategy import key


def checkpoints(trials, every):
    """The trial counts a curve is re-timed at: every `every` trials, and the budget."""
    at = list(range(every, trials + 1, every))
    return at if at and at[-1] == trials else at + [trials]


def trials(log, w, target):
    """The trials of a run's log, in order: records of `w` measured for `target` on this kind of
    CPU, final re-measurements left out (a disturbed timing is a trial spent without a time)."""
    return [r for r in R.Log(log).read(w) if r.get("phase") != "final" and R.measured_on(r, target)]


def picks(log, w, target, at):
    """For each trial count of `at`, the point of the fastest candidate of log `log` within that many
    trials (`trials`); None before any candidate ran correctly."""
    out, best, score = [], None, 0.0
    for i, r in enumerate(trials(log, w, target)[:max(at, default=0)], 1):
        g = R.gflops(r, w.flops)
        if g > score:
            best, score = r["point"], g
        out += [best] * at.count(i)
    return out + [best] * (len(at) - len(out))


def side_by_side(w, points, rounds, seed=0, **measure_options):
    """{point key: fastest seconds over `rounds` rounds} for the distinct `points`, each round in a
    new random order (a drift of the machine spreads over all of them); None for a point that never
    ran correctly (a timing disturbed by other processes does not count)."""
    distinct = list({key(p): p for p in points if p is not None}.values())
    times = {key(p): [] for p in distinct}
    rng = np.random.default_rng(seed)
    if distinct and rounds > 0:
        with Measurer(w, **measure_options) as m:
            for _ in range(rounds):
                order = rng.permutation(len(distinct))
                for i, r in zip(order, m.measure([distinct[i] for i in order])):
                    if r["error"] == R.OK and r["costs"]:
                        times[key(distinct[i])].append(min(r["costs"]))
    return {k: min(v) if v else None for k, v in times.items()}


def curve(points, times, flops):
    """GFLOP/s of each pick under the side-by-side `times` (0 where there is no pick or no time)."""
    out = []
    for p in points:
        t = times.get(key(p)) if p is not None else None
        out.append(flops / t / 1e9 if t else 0.0)
    return out
