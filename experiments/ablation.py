"""Ablation of the tuner over seeds: the strategies, and the cost model switched off (alt driven by
a random model), on conv and GEMM workloads. Best GFLOP/s against trials spent, with a band across
seeds, and how many trials the model-guided search needs to reach what random guidance reaches.

    python -m experiments.ablation [--quick] [--trials 64] [--seeds 5] [--workloads R18-4,GMM-1]
                                   [--configs alt,alt:random,random] [--retime 5] [--out results/ablation]
                                   [--resume]

A configuration is `strategy[:model[:flags]]`: model gbt (the default) or random (random
guidance: the same annealing against a model that predicts noise); flags, joined by `+`:
`unseeded` leaves out the target's hand schedules that the search otherwise measures first, so
that what the search itself finds shows; `transfer` warms the cost model with the logs that the
`alt` configuration wrote for the other workloads with the same seed (leave one out: AutoTVM's
transfer learning), and runs after every other configuration. `alt:gbt:unseeded+transfer` is the
transferred model on its own, without hand seeds to lean on. A flag `setting=value` changes one of
the strategy's settings (search.strategy.OPTIONS): `alt:gbt:unseeded+joint_share=0.25` gives the
joint stage a quarter of the budget; such a variant's trials to match are counted against its
random-guided twin (`alt:random:unseeded+joint_share=0.25`) and against the configuration without
its settings, where those run too. A setting of the cost model alone (`model_target=share`: the
model fitted to throughput as a share of the best rather than its logarithm) has no random-guided
twin of its own: its twin is the random-guided configuration without it (`alt:random:unseeded`).
On each workload the other configurations take turns seed by seed (seed 0 of each, then seed 1
of each, ...), so that a slow spell of the machine falls on both sides of a comparison.

For each workload the curves are the median over seeds of best-so-far GFLOP/s; "trials to match"
is the first trial at which a model-guided median curve reaches the final value of its reference's
median curve (its random-guided twin, pure random sampling, or for a transferred model the same
search without transfer), and the summary is its geometric mean over the workloads (a workload that
never reaches it counts as the budget, and says so: a bound). Beside it, how far other seeds
could move it: the 10th-90th percentile of the same figure over the seeds resampled (a bootstrap).

A best-so-far curve says how soon one lucky candidate came; beside it, the share of each run's
second half whose candidates came within 10% of the best measured before them says how much of the
budget went to candidates near the top (printed, in the JSON and the Markdown).

Those curves are made of the times each run logged, taken while it ran: comparing them also
compares the machine's speed in different minutes, and each run's luckiest timing. So at the end,
the kernels every run would have returned after 8, 16, ... trials (its fastest logged candidate so
far) are timed again side by side, in `--retime` shuffled rounds in one process, each kernel's
fastest round its time (experiments.retime), and the table, the trials to match and the figure are
given for those times too ("re-timed"). That is the comparison to quote where the searches end near
the same speed.

Writes <out>.json (every seed's curve), <out>.md and <out>.png (median curves, min-max band).
Every run's log is kept beside them (<out>.<workload>.<config>.<seed>.jsonl). A run starts from an
empty log, unless `--resume`: then each run goes on from its log (search.tune's resume), so an
ablation stopped midway is finished without measuring again what it had. Only records measured on
this kind of CPU count; a resumed run continues the search from what its log holds, with a fresh
random stream, so its curve is not the one an uninterrupted run would have drawn.
"""
import argparse
import json
import math
import platform
from pathlib import Path

import numpy as np

from experiments.report import pyplot, wrote
from experiments.retime import checkpoints, picks, side_by_side
from experiments.retime import trials as run_trials
from experiments.retime import curve as retimed_curve
from search import records as R
from search.cli import output, whole, workloads
from alt.errors import OptionError
from search.strategy import MODEL_OPTIONS, STRATEGIES, check_strategy_options, key
from search.tune import find_workload, tune

CONFIGS = ["alt", "alt:random", "alt:gbt:unseeded", "alt:random:unseeded", "random", "alt:gbt:transfer",
           "alt:gbt:unseeded+transfer"]
DEFAULT = ["R18-4", "R18-8", "R50-2", "GMM-1"]
QUICK = ["R18-8", "GMM-0"]
NEAR = 0.9  # the share of the reference's best that trials_near counts the trials to
RESAMPLES = 1000  # bootstrap draws of the seeds behind a trials-to-match figure (its interval)
SPREAD = (10, 90)  # the percentiles of those draws reported as its interval
RETIME_EVERY = 8  # trials between the re-timed points of a curve (search.tune's batch)
PAIRS = [("alt", "alt:random"), ("alt", "random"), ("alt:gbt:unseeded", "alt:random:unseeded"),
         ("alt:gbt:unseeded", "random"), ("alt:gbt:transfer", "alt"),
         ("alt:gbt:unseeded+transfer", "alt:gbt:unseeded")]  # (model-guided, reference)
FLAGS = ("unseeded", "transfer")


def parse_config(text):
    """(strategy, model, hand seeds, transfer, {setting: value}) of a configuration string."""
    parts = text.split(":")
    strategy, model, flags = (parts + ["", ""])[:3]
    flags = flags.split("+") if flags else []
    settings = dict(f.split("=", 1) for f in flags if "=" in f)
    flags = [f for f in flags if "=" not in f]
    if len(parts) > 3 or any(f not in FLAGS for f in flags) or len(set(flags)) < len(flags):
        raise SystemExit(f"configuration {text!r}: write strategy[:model[:flags]], the flags one or more of "
                         f"{' '.join(FLAGS)} or setting=value joined by '+' (e.g. alt:gbt:unseeded+transfer, "
                         f"alt:gbt:unseeded+joint_share=0.25)")
    try:
        settings = check_strategy_options(strategy, settings, f"configuration {text!r}") \
            if strategy in STRATEGIES else settings
    except OptionError as e:
        raise SystemExit(str(e)) from None
    return strategy, model or "gbt", "unseeded" not in flags, "transfer" in flags, settings


def label(config):
    strategy, model, seeded, transfer, settings = parse_config(config)
    return strategy + (" (no cost model)" if model != "gbt" else "") + ("" if seeded else ", no hand seeds") + (
        ", model transferred" if transfer else "") + "".join(f", {k}={v}" for k, v in settings.items())


def pairs(configs):
    """(model-guided, reference) pairs among `configs`: PAIRS, and for a model-guided configuration
    with settings its random-guided twin and itself without the settings."""
    out = [(g, r) for g, r in PAIRS if g in configs and r in configs]
    for c in configs:
        _, model, _, _, settings = parse_config(c)
        if settings and model == "gbt":
            out += [(c, r) for r in (_variant(c, model="random"), _variant(c)) if r in configs]
    return out


def _variant(config, model=None):
    """`config` with another model (without the settings of the cost model alone, MODEL_OPTIONS,
    which random guidance ignores), or (no model given) without its settings."""
    parts = config.split(":")
    flags = parts[2].split("+") if len(parts) == 3 else []
    if model is not None:
        flags = [f for f in flags if f.split("=", 1)[0] not in MODEL_OPTIONS]
        return ":".join([parts[0], model] + (["+".join(flags)] if flags else []))
    flags = [f for f in flags if "=" not in f]
    return ":".join(parts[:2] + (["+".join(flags)] if flags else []))


def scores(log, w, trials, target):
    """GFLOP/s of each of the first `trials` trials (experiments.retime.trials: this machine's
    records, in log order, without final re-measurements; 0 for a failed candidate)."""
    return [R.gflops(r, w.flops) for r in run_trials(log, w, target)][:trials]


def curve(measured, trials):
    """Best GFLOP/s after each of `trials` trials (`measured`: a run's `scores`; a run that stopped
    early keeps its best to the end)."""
    best = np.maximum.accumulate(measured).tolist() if measured else []
    return best + [best[-1] if best else 0.0] * (trials - len(best))


def near_best(measured, share=NEAR):
    """The share of a run's second-half trials (`measured`: each trial's GFLOP/s) that reached `share`
    of the best measured before them: how much of the budget goes to candidates near the top, where
    the best-so-far curve says only how soon one lucky candidate came. None with fewer than 2 trials."""
    half = len(measured) // 2
    if half == 0:
        return None
    before = np.maximum.accumulate(measured)[half - 1:-1]
    return float(np.mean([b > 0 and v >= share * b for v, b in zip(measured[half:], before)]))


def trials_to_reach(values, level):
    """The first trial (1-based) whose value reaches `level`, or None."""
    for i, v in enumerate(values):
        if v >= level * (1 - 1e-9):
            return i + 1
    return None


def summarize(names, configs, curves, trials, at=None):
    """{workload: {config: median curve}}, and the trials-to-match rows: for each pair of PAIRS,
    the trials the guided median curve needs to reach the reference's final median (`trials`) and
    NEAR of it (`trials_near`: the speed that transfer learning is meant to reach sooner), with
    geometric means over the workloads. `at`: the trial count of each position of the curves
    (default 1, 2, ..., trials)."""
    at = at or list(range(1, trials + 1))
    med = {n: {c: np.median(np.array(curves[(n, c)]), axis=0).tolist() for c in configs if (n, c) in curves}
           for n in names}
    rows = []
    for guided, ref in pairs(configs):
        row = {"guided": guided, "reference": ref, "level_at": trials, "near": NEAR}
        for suffix, share in (("", 1.0), ("_near", NEAR)):
            per = {n: _to_match(med[n][guided], med[n][ref], share, at) for n in names}
            row.update({"trials" + suffix: per, "geomean" + suffix: _geomean(per, trials),
                        "bound" + suffix: any(v is None for v in per.values())})
        row["interval"] = _interval(names, curves, guided, ref, trials, at)
        rows.append(row)
    return med, rows


def _to_match(guided, ref, share, at):
    """The trial count at which median curve `guided` reaches `share` of `ref`'s final value; None: never."""
    i = trials_to_reach(guided, share * ref[-1])
    return at[i - 1] if i is not None else None


def _geomean(per, trials):
    return float(math.exp(np.mean(np.log([v or trials for v in per.values()]))))


def _interval(names, curves, guided, ref, trials, at):
    """The SPREAD percentiles of the trials-to-match geometric mean over RESAMPLES bootstrap draws of
    each configuration's seeds (drawn with replacement, per workload): how far the figure could move
    with other seeds (two 5-seed runs of one code, one after the other, gave 18 and 40)."""
    rng = np.random.default_rng(0)
    runs = {(n, c): np.array(curves[(n, c)]) for n in names for c in (guided, ref)}
    draws = []
    for _ in range(RESAMPLES):
        med = {k: np.median(v[rng.integers(len(v), size=len(v))], axis=0) for k, v in runs.items()}
        draws.append(_geomean({n: _to_match(med[n, guided], med[n, ref], 1.0, at) for n in names}, trials))
    return [float(v) for v in np.percentile(draws, SPREAD)]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help=f"{QUICK}, 16 trials, 2 seeds (a few minutes on 2 cores)")
    p.add_argument("--trials", type=whole(1), default=64)
    p.add_argument("--seeds", type=whole(1), default=5)
    p.add_argument("--workloads", type=workloads(), help="suite workload names, separated by commas")
    p.add_argument("--configs", default=",".join(CONFIGS), help="strategy or strategy:model, separated by commas")
    p.add_argument("--retime", type=whole(0), default=None, metavar="ROUNDS",
                   help="rounds of timing the runs' picks side by side at the end (default 5, --quick 2; 0: none)")
    p.add_argument("--out", type=output, default="results/ablation")
    p.add_argument("--resume", action="store_true", help="go on from the logs of an earlier, unfinished run")
    args = p.parse_args(argv)
    names = args.workloads if args.workloads else (QUICK if args.quick else DEFAULT)
    trials = 16 if args.quick and not args.workloads else args.trials
    seeds = 2 if args.quick else args.seeds
    rounds = args.retime if args.retime is not None else (2 if args.quick else 5)
    configs = args.configs.split(",")
    if any(parse_config(c)[3] for c in configs) and ("alt" not in configs or len(names) < 2):
        raise SystemExit("a transfer configuration learns from the `alt` configuration's logs of the other "
                         "workloads: give --configs with alt in it and at least two workloads")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    from alt.target import Target, current
    cpu = Target.host().describe()  # names the CPU model, ISA, cores and caches
    here = current()
    print(f"on {cpu}: {trials} trials, {seeds} seeds; best GFLOP/s, median over seeds [min, max]")
    curves, nears = {}, {}  # {(workload, config): [per seed]}: best-so-far curves, near_best shares

    def log_of(name, config, seed):
        return out.parent / f"{out.name}.{name}.{config.replace(':', '.')}.{seed}.jsonl"

    def run(name, group):
        """Tune `name` under each configuration of `group`, the configurations taking turns seed by
        seed: a slow spell or a drift of the machine then falls on every side of a comparison, not
        on whichever configuration happened to run in it (run one after the other, the same point
        of R18-8 measured 15% apart in the two configurations' logs)."""
        w = find_workload(name)
        runs = {c: [] for c in group}
        for seed in range(seeds):
            for config in group:
                strategy, model, seeded, transfer, settings = parse_config(config)
                log = log_of(name, config, seed)
                if not args.resume:
                    log.unlink(missing_ok=True)
                tune(w, trials=trials, strategy=strategy, model=model, log=log, seed=seed, quiet=True, build=False,
                     final=0, hand_seeds=seeded, strategy_options=settings,
                     transfer=[log_of(n, "alt", seed) for n in names if n != name] if transfer else None)
                measured = scores(log, w, trials, here)
                runs[config].append(curve(measured, trials))
                nears.setdefault((name, config), []).append(near_best(measured))
        for config in group:
            curves[(name, config)] = runs[config]
            ends = [r[-1] for r in runs[config]]
            print(f"{name:8} {label(config):36} {np.median(ends):7.1f} [{min(ends):.1f}, {max(ends):.1f}]; "
                  f"{_median_share(nears[(name, config)])} of the second half within {1 - NEAR:.0%} of the best",
                  flush=True)

    later = [c for c in configs if parse_config(c)[3]]  # transfer learns from every workload's alt logs: last
    for name in names:
        if any(c not in later for c in configs):
            run(name, [c for c in configs if c not in later])
    for c in later:
        for name in names:
            run(name, [c])
    retimed, at = {}, checkpoints(trials, RETIME_EVERY)
    for name in names if rounds else []:
        retimed.update(retime(name, [c for c in configs if (name, c) in curves], seeds, at, rounds, log_of, here))
    med, rows = summarize(names, configs, curves, trials)
    rows_r = summarize(names, configs, retimed, trials, at)[1] if retimed else []
    for row, how in [(r, "") for r in rows] + [(r, ", re-timed side by side") for r in rows_r]:
        per = ", ".join(f"{n} {v if v is not None else f'>{trials}'}" for n, v in row["trials"].items())
        print(f"trials for {label(row['guided'])} to reach {label(row['reference'])}'s best at {trials}{how}: geomean "
              f"{'>=' if row['bound'] else ''}{row['geomean']:.1f} ({per}; {_spread(row)}); {NEAR:.0%} of it: "
              f"{'>=' if row['bound_near'] else ''}{row['geomean_near']:.1f}")
    doc = {"cpu": cpu, "machine": platform.node(), "trials": trials, "seeds": seeds, "configs": configs,
           "curves": [{"workload": n, "config": c, "seed": s, "best_by_trial": v}
                      for (n, c), runs in curves.items() for s, v in enumerate(runs)],
           "trials_to_match": rows, "retime_rounds": rounds, "retimed_at": at if retimed else [],
           "retimed": [{"workload": n, "config": c, "seed": s, "gflops": v}
                       for (n, c), runs in retimed.items() for s, v in enumerate(runs)],
           "trials_to_match_retimed": rows_r, "near": NEAR,
           "near_best": [{"workload": n, "config": c, "seed": s, "share": v}
                         for (n, c), runs in nears.items() for s, v in enumerate(runs)]}
    out.with_suffix(".json").write_text(json.dumps(doc, indent=1))
    md = [f"Measured on {cpu}; {trials} trials, {seeds} seeds; best GFLOP/s, median over seeds [min, max]."]
    tables = [("As logged by each run.", curves, rows, "")]
    if retimed:
        tables.append((f"Re-timed side by side: the kernel each run picked, timed again in {rounds} shuffled rounds "
                       f"in one process (the fastest round); trials to match at every {RETIME_EVERY} trials.",
                       retimed, rows_r, ", re-timed"))
    for title, table, trows, how in tables:
        md += ["", title, "", "| workload | " + " | ".join(label(c) for c in configs) + " |",
               "|---|" + "---|" * len(configs)]
        for name in names:
            md.append(f"| {name} | " + " | ".join(_cell(table.get((name, c))) for c in configs) + " |")
        for row in trows:
            per, near = (", ".join(f"{n}: {v if v is not None else f'>{trials}'}" for n, v in row[k].items())
                         for k in ("trials", "trials_near"))
            md += ["", f"Trials for {label(row['guided'])} (median curve{how}) to reach {label(row['reference'])}'s "
                       f"median best at {trials} trials: geometric mean {'>= ' if row['bound'] else ''}"
                       f"{row['geomean']:.1f}; {per}; {_spread(row)}. To reach {NEAR:.0%} of it: "
                       f"{'>= ' if row['bound_near'] else ''}{row['geomean_near']:.1f}; {near}."]
    md += ["", f"Share of the second half's trials within {1 - NEAR:.0%} of the best measured before them, as logged "
               "(median over seeds [min, max]): how much of the budget went to candidates near the top.", "",
           "| workload | " + " | ".join(label(c) for c in configs) + " |", "|---|" + "---|" * len(configs)]
    for name in names:
        md.append(f"| {name} | " + " | ".join(_median_share(nears.get((name, c)), spread=True) for c in configs) + " |")
    out.with_suffix(".md").write_text("\n".join(md) + "\n")
    png = _plot(names, curves, out.with_suffix(".png"), retimed, at)
    print(wrote(out.with_suffix(".json"), out.with_suffix(".md"), png))


def _spread(row):
    lo, hi = row["interval"]
    return f"{SPREAD[0]}-{SPREAD[1]}th percentile over the seeds resampled {lo:.1f}-{hi:.1f}"


def retime(name, configs, seeds, at, rounds, log_of, target):
    """{(name, config): [re-timed curve per seed]}: the kernel each run would have returned after
    each trial count of `at`, all of the workload's runs timed side by side (experiments.retime)."""
    w = find_workload(name)
    chosen = {(c, s): picks(log_of(name, c, s), w, target, at) for c in configs for s in range(seeds)}
    points = [p for ps in chosen.values() for p in ps if p is not None]
    print(f"{name:8} timing the {len({key(p) for p in points})} kernels the runs picked "
          f"side by side, {rounds} rounds", flush=True)
    times = side_by_side(w, points, rounds)
    out = {(name, c): [retimed_curve(chosen[(c, s)], times, w.flops) for s in range(seeds)] for c in configs}
    for c in configs:
        ends = [r[-1] for r in out[(name, c)]]
        print(f"{name:8} {label(c):36} {np.median(ends):7.1f} [{min(ends):.1f}, {max(ends):.1f}] re-timed",
              flush=True)
    return out


def _median_share(shares, spread=False):
    """A configuration's near_best shares over seeds as text: the median, and with `spread` [min, max]."""
    shares = [v for v in shares or () if v is not None]
    if not shares:
        return "-"
    return f"{np.median(shares):.0%}" + (f" [{min(shares):.0%}, {max(shares):.0%}]" if spread else "")


def _cell(runs):
    if not runs:
        return "-"
    ends = [r[-1] for r in runs]
    return f"{np.median(ends):.1f} [{min(ends):.1f}, {max(ends):.1f}]"


def _plot(names, curves, path, retimed=None, at=None):
    """Median curve per configuration with its min-max band across seeds; `curves` {(workload,
    config): [curve per seed]} (a single curve is one seed). `retimed` (the same, at the trial
    counts `at`): their medians as dashed lines with markers in the same colour."""
    plt = pyplot()
    if plt is None:
        return None
    cols = min(4, len(names))  # four panels a row
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.5 * cols, 3.5 * rows), squeeze=False)
    for ax in axes.flat[len(names):]:
        ax.set_visible(False)
    for ax, name in zip(axes.flat, names):
        for (n, c), runs in curves.items():
            if n != name:
                continue
            a = np.array(runs if isinstance(runs[0], (list, tuple)) else [runs], float)
            x = np.arange(1, a.shape[1] + 1)
            line, = ax.plot(x, np.median(a, axis=0), label=label(c))
            if len(a) > 1:
                ax.fill_between(x, a.min(axis=0), a.max(axis=0), color=line.get_color(), alpha=0.15)
            if retimed and (n, c) in retimed:
                ax.plot(at, np.median(np.array(retimed[(n, c)], float), axis=0), "o--", color=line.get_color(),
                        markersize=3, label=label(c) + ", re-timed")
        ax.set_title(name)
        ax.set_xlabel("trials")
        ax.set_ylabel("best GFLOP/s")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


if __name__ == "__main__":
    main()
