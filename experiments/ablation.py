"""Ablation of the tuner: the four strategies, and the cost model switched off (alt driven by a
random model), on a few conv and GEMM workloads. Best GFLOP/s against trials spent.

    python -m experiments.ablation [--quick] [--trials 48] [--workloads R18-4,GMM-1] [--out results/ablation]

Writes <out>.json, <out>.md (final best per configuration) and <out>.png (convergence curves).
"""
import argparse
import json
from pathlib import Path

import numpy as np

from experiments.report import pyplot, wrote
from search import records as R
from search.tune import find_workload, tune

CONFIGS = [("alt", "gbt"), ("loop-only", "gbt"), ("layout-then-loop", "gbt"), ("random", "gbt"), ("alt", "random")]
DEFAULT = ["R18-4", "R18-8", "R50-2", "GMM-1"]
QUICK = ["R18-8", "GMM-0"]


def label(strategy, model):
    return strategy if model == "gbt" else f"{strategy} (no cost model)"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help=f"{QUICK}, 16 trials (about two minutes on 2 cores)")
    p.add_argument("--trials", type=int, default=48)
    p.add_argument("--workloads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="results/ablation")
    args = p.parse_args(argv)
    names = args.workloads.split(",") if args.workloads else (QUICK if args.quick else DEFAULT)
    trials = 16 if args.quick and not args.workloads else args.trials
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    curves = {}
    print(f"{'workload':8} " + " ".join(f"{label(*c):>24}" for c in CONFIGS) + "   (best GFLOP/s)")
    for name in names:
        w = find_workload(name)
        line = []
        for strategy, model in CONFIGS:
            log = out.parent / f"{out.name}.{name}.{strategy}.{model}.jsonl"
            log.unlink(missing_ok=True)
            tune(w, trials=trials, strategy=strategy, model=model, log=log, seed=args.seed, quiet=True)
            recs = R.Log(log).read(w)
            best = np.maximum.accumulate([R.gflops(r, w.flops) for r in recs]).tolist()
            curves[(name, label(strategy, model))] = best
            line.append(best[-1])
        print(f"{name:8} " + " ".join(f"{v:24.1f}" for v in line), flush=True)
    out.with_suffix(".json").write_text(json.dumps(
        [{"workload": n, "config": c, "best_by_trial": v} for (n, c), v in curves.items()], indent=1))
    md = ["| workload | " + " | ".join(label(*c) for c in CONFIGS) + " |", "|---|" + "---|" * len(CONFIGS)]
    for name in names:
        md.append(f"| {name} | " + " | ".join(f"{curves[(name, label(*c))][-1]:.1f}" for c in CONFIGS) + " |")
    out.with_suffix(".md").write_text("\n".join(md) + f"\n\nbest GFLOP/s after {trials} trials, seed {args.seed}\n")
    png = _plot(names, curves, out.with_suffix(".png"))
    print(wrote(out.with_suffix(".json"), out.with_suffix(".md"), png))


def _plot(names, curves, path):
    plt = pyplot()
    if plt is None:
        return None
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.5), squeeze=False)
    for ax, name in zip(axes[0], names):
        for (n, c), v in curves.items():
            if n == name:
                ax.plot(range(1, len(v) + 1), v, label=c)
        ax.set_title(name)
        ax.set_xlabel("trials")
        ax.set_ylabel("best GFLOP/s")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


if __name__ == "__main__":
    main()
