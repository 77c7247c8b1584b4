"""How well the cost model ranks candidates it has not measured, read off tuning logs: nothing is
built or timed, so a change to the model is judged in a minute instead of an ablation's hour, and
on the same measurements for every variant.

    python -m experiments.model_quality --logs results/ablation [--workloads R18-8,GMM-1]
           [--variants "default,features=1,target=share"] [--at 16,32,48] [--runs 20] [--held 400]
           [--seed 0] [--out results/model_quality]

Every `.jsonl` log under `--logs` (files or folders: ablation runs, `alt tune` logs) is read; a
log's trials of one workload in order (this machine's records, final re-measurements left out, as
experiments.retime reads them) are a run, and every point measured in any run, at its fastest
logged time, is the pool. For each of `--runs` runs drawn at random and each trial count k of
`--at`, a model is fitted to the run's first k trials, as the tuner would have it after k trials,
and ranks `--held` points of the pool that ran correctly and those k trials did not measure
(the same points for every variant). Reported per variant, as means over the runs:

  rho     Spearman rank correlation between the prediction and the logged throughput
  top8    the mean share of the best held-out throughput of the 8 points predicted best (a batch)
  max8    the best of those 8, as a share of the best held-out throughput
  tuner8  the same for the 8 the tuner's own rule picks (Strategy._top, search.strategy.diverse_picks:
          among the 24 predicted best, greedily, the prediction plus a bonus for the distance from
          what is measured and picked, Strategy.NOVELTY)
  random  the same for 8 points drawn at random (its exact expectation): what random guidance
          would pick from the same points

A variant is GBTModel's settings joined by `+` (`features=1+target=share`), and `novelty=0.5`
changes the tuner's rule's bonus (tuner8 alone); `default` is the model and rule as the tuner
has them. The pool's points were found by searches, so they are better than the space's average,
and each throughput is one logged timing: noisy labels bound every variant's rho alike. Writes
<out>.json and <out>.md; the CPU is named in both.
"""
import argparse
import json
import math
import platform
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from alt.errors import OptionError
from experiments.report import wrote
from experiments.retime import trials as run_trials
from search import records as R
from search.cli import output, whole
from search.featurize import Featurizer, key
from search.model import GBTModel
from search.space import space_for
from search.strategy import Strategy, check_strategy_options, diverse_picks, spacing

BATCH = 8  # the points a tuner measures per batch: what `top8` and `max8` pick
COLUMNS = ("rho", "top8", "max8", "tuner8", "random")
SETTINGS = {"features": float, "target": str, "min_samples": int,  # GBTModel's settings a variant may change
            "novelty": float}  # and the tuner's rule's bonus for distance (Strategy.NOVELTY; tuner8 only)
PICKING = ("novelty",)  # the settings of the tuner's rule, not of the model


def parse_variant(text):
    """`default`, or GBTModel settings `name=value` joined by `+`, as keyword arguments (checked by
    building a model with them)."""
    out = {}
    for part in [] if text == "default" else text.split("+"):
        name, eq, value = part.partition("=")
        if not eq or name not in SETTINGS:
            raise OptionError(f"model_quality: variant {text!r}: {part!r} is not a setting; give 'default' or "
                              f"name=value joined by '+', the names among {sorted(SETTINGS)}")
        try:
            out[name] = SETTINGS[name](value)
        except ValueError:
            raise OptionError(f"model_quality: variant {text!r}: {name}={value!r} is not a "
                              f"{SETTINGS[name].__name__}") from None
    GBTModel(**{k: v for k, v in out.items() if k not in PICKING})  # an OptionError names a bad value
    check_strategy_options("alt", {k: v for k, v in out.items() if k in PICKING}, where="model_quality")
    return out


def log_files(paths):
    """The .jsonl files of `paths` (files, or folders searched recursively), sorted; an OptionError
    for a path that does not exist or holds none."""
    out = []
    for p in map(Path, paths):
        if not p.exists():
            raise OptionError(f"model_quality: --logs {str(p)!r} does not exist; give tuning logs or folders of them")
        out += sorted(p.rglob("*.jsonl")) if p.is_dir() else [p]
    if not out:
        raise OptionError(f"model_quality: no .jsonl log under {[str(p) for p in paths]}")
    return sorted(set(out))


def read_runs(files, target, names=None):
    """{workload name: (Workload, [run, ...])}, a run being [(point, GFLOP/s), ...] in trial order
    (0 for a failed candidate), of the workloads named in `names` (all, if None)."""
    out = {}
    for f in files:
        by = {}
        for r in R.Log(f).read():
            if names is None or r["workload"]["name"] in names:
                by.setdefault(json.dumps(r["workload"], sort_keys=True), r["workload"])
        for wk in by.values():
            w = R.workload_of(wk)
            run = [(r["point"], R.gflops(r, w.flops)) for r in run_trials(f, w, target)]
            if run:
                out.setdefault(w.name, (w, []))[1].append(run)
    return out


def pool_of(runs):
    """{point key: (point, its best logged GFLOP/s)} over every run."""
    out = {}
    for run in runs:
        for p, g in run:
            k = key(p)
            out[k] = (p, max(g, out[k][1] if k in out else 0.0))
    return out


def random_max(values, n=BATCH):
    """The exact expectation of the largest of n values drawn without replacement from `values`."""
    v = np.sort(np.asarray(values, float))
    if len(v) <= n:
        return float(v.max()) if len(v) else 0.0
    i = np.arange(len(v))  # the i-th smallest is the largest of n drawn when the other n-1 come from below it
    weight = np.array([math.comb(j, n - 1) for j in i], float) / math.comb(len(v), n)
    return float((v * weight).sum())


def evaluate(space, runs, variants, at, n_runs, n_held, seed=0):
    """{variant label: {k: {rho, top8, max8, tuner8, random, cases}}} for one workload (see the module)."""
    rng = np.random.default_rng(seed)
    pool = pool_of(runs)
    keys = list(pool)
    feats = Featurizer(space)([pool[k][0] for k in keys])
    ok = {k: f for k, f in zip(keys, feats) if f is not None}
    order = rng.permutation(len(runs))[:n_runs]
    cases = []  # (k, [(key, GFLOP/s as the run logged it)], held-out keys): the same draws for every variant
    for r in order:
        run = [(key(p), g) for p, g in runs[r]]
        for k in at:
            if k >= len(run):
                continue
            train = [(q, g) for q, g in run[:k] if q in ok]
            if not train or max(g for _, g in train) <= 0:
                continue
            seen = {q for q, _ in run[:k]}
            rest = [q for q in ok if q not in seen and pool[q][1] > 0]
            held = [rest[i] for i in rng.permutation(len(rest))[:n_held]]
            if len(held) > BATCH:
                cases.append((k, train, held))
    out = {}
    for label, settings in variants.items():
        rows = {}
        novelty = settings.get("novelty", Strategy.NOVELTY)
        settings = {k: v for k, v in settings.items() if k not in PICKING}
        for k, train, held in cases:
            X = np.array([ok[q] for q, _ in train])
            m = GBTModel(seed=seed, **settings).fit(X, np.array([g for _, g in train]))  # as the tuner had it
            pred = m.predict(np.array([ok[q] for q in held]))
            share = np.array([pool[q][1] for q in held]) / max(pool[q][1] for q in held)
            ranked = np.argsort(-pred, kind="stable")
            top, pool3 = ranked[:BATCH], ranked[:3 * BATCH]
            tuner = pool3[diverse_picks(pred[pool3], [ok[held[i]] for i in pool3], X, spacing(X), BATCH, novelty)]
            rho = spearmanr(pred, share)[0] if np.ptp(pred) > 0 else 0.0
            rows.setdefault(k, []).append((rho, share[top].mean(), share[top].max(), share[tuner].max(),
                                           random_max(share)))
        out[label] = {k: dict(zip(COLUMNS, np.mean(v, axis=0).round(3).tolist()), cases=len(v))
                      for k, v in sorted(rows.items())}
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--logs", nargs="+", required=True, help="tuning logs, or folders of them (searched recursively)")
    p.add_argument("--workloads", help="workload names, separated by commas (default: every one the logs hold)")
    p.add_argument("--variants", default="default,features=1",
                   help="cost-model variants, separated by commas: 'default', or GBTModel settings name=value "
                        f"joined by '+' ({', '.join(SETTINGS)})")
    p.add_argument("--at", default="16,32,48", help="trial counts the model is fitted after, separated by commas")
    p.add_argument("--runs", type=whole(1), default=20, help="runs drawn per workload")
    p.add_argument("--held", type=whole(BATCH + 1), default=400, help="held-out points ranked per case")
    p.add_argument("--seed", type=whole(0), default=0)
    p.add_argument("--out", type=output, default="results/model_quality")
    args = p.parse_args(argv)
    try:
        variants = {v: parse_variant(v) for v in args.variants.split(",")}
    except OptionError as e:
        raise SystemExit(str(e)) from None
    try:
        at = sorted({int(k) for k in args.at.split(",")})
    except ValueError:
        raise SystemExit(f"--at {args.at!r}: give whole numbers separated by commas") from None
    if at[0] < 1:
        raise SystemExit(f"--at {args.at!r}: each trial count must be at least 1")
    from alt.target import Target, current
    cpu, here = Target.host().describe(), current()
    names = [n.strip() for n in args.workloads.split(",")] if args.workloads else None
    try:
        found = read_runs(log_files(args.logs), here, names)
    except OptionError as e:
        raise SystemExit(str(e)) from None
    if not found:
        raise SystemExit(f"no run of {names or 'any workload'} measured on this machine ({cpu}) in {args.logs}")
    print(f"on {cpu}: each model fitted to a run's first {at} trials ranks {args.held} points of the pool it did not "
          f"measure; means over up to {args.runs} runs")
    print(f"{'workload':10s} {'runs':>4s} {'pool':>5s} {'variant':24s} " + "  ".join(
        f"{f'k={k}: rho top8 max8 tuner8 (rand)':37s}" for k in at))
    results = []
    for name, (w, runs) in sorted(found.items()):
        space = space_for(w, here)
        got = evaluate(space, runs, variants, at, args.runs, args.held, args.seed)
        n_pool = len(pool_of(runs))
        for label, per in got.items():
            results.append({"workload": name, "runs": len(runs), "pool": n_pool, "variant": label, "by_trials": per})
            print(f"{name:10s} {len(runs):4d} {n_pool:5d} {label:24s} " + "  ".join(
                f"{_cells(per.get(k)):37s}" for k in at), flush=True)
    out = Path(args.out)
    doc = {"cpu": cpu, "machine": platform.node(), "logs": [str(x) for x in args.logs], "at": at, "runs": args.runs,
           "held": args.held, "seed": args.seed, "variants": variants, "results": results}
    out.with_suffix(".json").write_text(json.dumps(doc, indent=1))
    md = [f"Measured on {cpu} (the logs' timings; nothing is timed here). Each model is fitted to a run's first k "
          f"trials and ranks {args.held} logged points that run did not measure: the rank correlation (rho), the mean "
          f"and the best share of the best of its {BATCH} top picks, the best of the {BATCH} the tuner's rule picks "
          f"(tuner8), and the best of {BATCH} random picks (its expectation); means over up to {args.runs} runs.", "",
          "| workload | runs | pool | variant | "
          + " | ".join(f"k={k}: rho / top8 / max8 / tuner8 (random)" for k in at) + " |",
          "|---|---|---|---|" + "---|" * len(at)]
    md += [f"| {r['workload']} | {r['runs']} | {r['pool']} | {r['variant']} | "
           + " | ".join(_cells(r["by_trials"].get(k)) for k in at) + " |" for r in results]
    out.with_suffix(".md").write_text("\n".join(md) + "\n")
    print(wrote(out.with_suffix(".json"), out.with_suffix(".md")))


def _cells(row):
    if not row:
        return "-"
    return f"{row['rho']:.2f} {row['top8']:.2f} {row['max8']:.2f} {row['tuner8']:.2f} ({row['random']:.2f})"


if __name__ == "__main__":
    main()
