"""Cortex's latency experiment on our CPU: recursive models compiled by alt against PyTorch eager
(one operator call per node), PyTorch with level-by-level batching written by hand, and DyNet with
automatic batching, on SST-shaped random parse trees and complete binary trees of height 7; then
DAG-RNN on grid DAGs; then the ablation of alt's recursion optimizations (batching, leaf
specialization, fusion, per-level tile heights).

    python -m experiments.cortex [--quick] [--out results/cortex]

Latency: 10 warm-up runs, then the mean and median of timed runs; alt's includes linearization
(its share at batch 1 is printed). Every contender's output is checked against the per-node numpy
recursion before it is timed. Writes <out>.json, <out>.md and <out>.png.
"""
import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

from alt.recursive import compile, data, models, reference
from experiments.recursive_baselines import Dynet, TorchBatched, TorchEager, dynet_available
from experiments.report import pyplot, wrote
from experiments.timing import check_close, settle

CONFIGS = [("treefc", 256), ("treefc", 512), ("treegru", 256), ("treegru", 512), ("treelstm", 256),
           ("treelstm", 512), ("mvrnn", 64), ("mvrnn", 128), ("dagrnn", 256)]
QUICK = [("treefc", 256), ("treelstm", 256), ("mvrnn", 64), ("dagrnn", 256)]
ABLATION = {"no batching": {"batching": False}, "no leaf specialization": {"leaf_specialization": False},
            "no fusion": {"fusion": False}, "no level tiles": {"level_tiles": False}, "no hoisting": {"hoist": False}}
VOCAB = 1000


def latency(fn, warmup=10, runs=10, min_time=0.05):
    """(mean, median) seconds of fn(): `warmup` calls, then at least `runs` timed calls (more
    while they add up to less than min_time)."""
    settle()
    for _ in range(warmup):
        fn()
    ts = []
    while len(ts) < runs or sum(ts) < min_time and len(ts) < 1000:
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.mean(ts), statistics.median(ts)


def datasets(kind, bs, seed):
    if kind == "dag":  # DAG-RNN over image regions: a 10 x 10 grid, each node reading its up and left neighbours
        return {"grid-10x10": [data.grid(10, 10, seed=seed + i, vocab=VOCAB) for i in range(bs)]}
    return {"SST": data.sst_like(bs, seed=seed, vocab=VOCAB),
            "complete-7": [data.complete(7, seed=seed + i, vocab=VOCAB) for i in range(bs)]}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help=f"{QUICK}, SST trees only")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="results/cortex")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    use_dynet = dynet_available()
    if not use_dynet:
        print("DyNet is not installed (pip install dynet38): no DyNet column")
    rows, ablation, lin_share = [], [], []
    print(f"{'model':9} {'H':>4} {'data':10} {'bs':>3} {'alt':>9} {'eager':>9} {'batched':>9} {'DyNet':>9} "
          f"{'vs eager':>8} {'vs best':>8}  (median ms)")
    for name, hidden in (QUICK if args.quick else CONFIGS):
        model = models.MODELS[name](hidden=hidden, vocab=VOCAB, seed=args.seed)
        net = compile(model)
        contenders = {"alt": net, "PyTorch eager": TorchEager(model), "PyTorch batched": TorchBatched(model)}
        if use_dynet:
            contenders["DyNet"] = Dynet(model)
        for bs in (1, 10):
            for dname, batch in datasets(model.kind, bs, args.seed).items():
                if args.quick and dname not in ("SST", "grid-10x10"):
                    continue
                want = reference(model, batch)
                row = {"model": name, "hidden": hidden, "data": dname, "batch": bs,
                       "nodes": int(sum(len(t.word) for t in batch))}
                for label, f in contenders.items():
                    check_close(f(batch), want, f"{label} on {name} {dname} bs={bs}", rtol=1e-3)
                    row[label] = latency(lambda: f(batch))
                if bs == 1:
                    lin = latency(lambda: net.linearize(batch))[1]
                    row["linearization"] = lin
                    lin_share.append(lin / row["alt"][1])
                base = [row[k][1] for k in contenders if k != "alt"]
                row["speedup vs eager"] = row["PyTorch eager"][1] / row["alt"][1]
                row["speedup vs best baseline"] = min(base) / row["alt"][1]
                rows.append(row)
                ms = lambda k: f"{row[k][1] * 1e3:9.3f}" if k in row else f"{'-':>9}"  # noqa: E731
                print(f"{name:9} {hidden:4d} {dname:10} {bs:3d} {ms('alt')} {ms('PyTorch eager')} "
                      f"{ms('PyTorch batched')} {ms('DyNet')} {row['speedup vs eager']:8.1f} "
                      f"{row['speedup vs best baseline']:8.2f}", flush=True)
                if dname in ("SST", "grid-10x10"):
                    abl = {"model": name, "hidden": hidden, "batch": bs, "alt": row["alt"]}
                    for label, opts in ABLATION.items():
                        variant = compile(model, **opts)
                        check_close(variant(batch), want, f"alt {label}", rtol=1e-3)
                        abl[label] = latency(lambda: variant(batch))
                    ablation.append(abl)
    geo = statistics.geometric_mean
    summary = {"geomean speedup vs PyTorch eager": geo([r["speedup vs eager"] for r in rows]),
               "geomean speedup vs best baseline": geo([r["speedup vs best baseline"] for r in rows]),
               "max speedup vs PyTorch eager (batch 1)": max(r["speedup vs eager"] for r in rows if r["batch"] == 1),
               "linearization share at batch 1 (median)": statistics.median(lin_share)}
    if use_dynet:
        summary["geomean speedup vs DyNet"] = geo([r["DyNet"][1] / r["alt"][1] for r in rows])
    for k, v in summary.items():
        print(f"{k}: {v:.2f}" + ("" if "share" not in k else f" ({v * 100:.1f}%)"))
    print("\nablation (median ms; SST trees, grids for DAG-RNN)")
    print(f"{'model':9} {'H':>4} {'bs':>3} {'alt':>9} " + " ".join(f"{k:>22}" for k in ABLATION))
    for a in ablation:
        print(f"{a['model']:9} {a['hidden']:4d} {a['batch']:3d} {a['alt'][1] * 1e3:9.3f} " +
              " ".join(f"{a[k][1] * 1e3:12.3f} ({a[k][1] / a['alt'][1]:5.2f}x)" for k in ABLATION))
    out.with_suffix(".json").write_text(json.dumps({"rows": rows, "ablation": ablation, "summary": summary},
                                                   indent=1))
    _markdown(rows, ablation, summary, out.with_suffix(".md"))
    png = _plot(rows, out.with_suffix(".png"))
    print(wrote(out.with_suffix(".json"), out.with_suffix(".md"), png))


def _markdown(rows, ablation, summary, path):
    labels = ["alt", "PyTorch eager", "PyTorch batched", "DyNet"]
    md = ["| model | H | data | batch | nodes | " + " | ".join(f"{k} ms (mean / median)" for k in labels) +
          " | alt vs eager | alt vs best baseline |", "|---" * (7 + len(labels)) + "|"]
    for r in rows:
        cells = [f"{r[k][0] * 1e3:.3f} / {r[k][1] * 1e3:.3f}" if k in r else "-" for k in labels]
        md.append(f"| {r['model']} | {r['hidden']} | {r['data']} | {r['batch']} | {r['nodes']} | " + " | ".join(cells) +
                  f" | {r['speedup vs eager']:.1f}x | {r['speedup vs best baseline']:.2f}x |")
    md.append("")
    md += [f"- {k}: **{v:.2f}**" for k, v in summary.items()]
    md += ["", "| model | H | batch | alt ms | " + " | ".join(ABLATION) + " |", "|---" * (4 + len(ABLATION)) + "|"]
    for a in ablation:
        md.append(f"| {a['model']} | {a['hidden']} | {a['batch']} | {a['alt'][1] * 1e3:.3f} | " +
                  " | ".join(f"{a[k][1] * 1e3:.3f} ({a[k][1] / a['alt'][1]:.2f}x)" for k in ABLATION) + " |")
    path.write_text("\n".join(md) + "\n")


def _plot(rows, path):
    plt = pyplot()
    if plt is None:
        return None
    labels = [k for k in ("PyTorch eager", "PyTorch batched", "DyNet") if k in rows[0]]
    names = [f"{r['model']}-{r['hidden']}\n{r['data']} bs{r['batch']}" for r in rows]
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(max(8, len(rows) * 0.7), 4.5))
    for i, k in enumerate(labels):
        ax.bar(x + (i - 1) * 0.27, [r[k][1] / r["alt"][1] for r in rows], 0.27, label=f"{k} / alt")
    ax.set_yscale("log")
    ax.axhline(1.0, color="gray", lw=0.5)
    ax.set_xticks(x, names, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("latency relative to alt (higher: alt faster)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


if __name__ == "__main__":
    main()
