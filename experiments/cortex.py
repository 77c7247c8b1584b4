"""Cortex's latency experiment on our CPU: recursive models compiled by alt against PyTorch eager
(one operator call per node), PyTorch with level-by-level batching written by hand, and DyNet with
automatic batching, on SST-shaped random parse trees and complete binary trees of height 7; then
DAG-RNN on grid DAGs; then the ablation of alt's recursion optimizations (batching, leaf
specialization, fusion, per-level tile heights, hoisting; unrolling and recursive refactoring
switched on).

    python -m experiments.cortex [--quick] [--tune-trials N] [--out results/cortex]

"alt tuned" is alt with its cells' knobs searched (search.cells, --tune-trials candidates) for the
batch size of the row: at batch 1 on the SST or grid batch of one structure, at batch 10 on ten
complete trees of height 7 (or ten grids), the heavier of the two batch-10 data, whose tuned knobs
serve both batch-10 rows; the log <out>-cells.jsonl resumes. Latency: 10 warm-up runs, then 7
rounds in which every contender of a row runs in turn for at least 10 ms (side by side, so a slow
spell of the machine falls on all alike); mean, median and min over the timed runs, ratios of
medians. alt's includes linearization (its share at batch 1 is printed). Every contender's output
is checked against the per-node numpy recursion before it is timed. Writes <out>.json, <out>.md and
<out>.png.
"""
import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

from alt.recursive import compile, data, models, reference
from alt.recursive.model import projections
from alt.target import current
from experiments.recursive_baselines import Dynet, TorchBatched, TorchEager, dynet_available
from experiments.report import pyplot, wrote
from search.cells import compile_best, tune_cells
from experiments.timing import check_close, settle
from search.cli import output, whole

CONFIGS = [("treefc", 256), ("treefc", 512), ("treegru", 256), ("treegru", 512), ("treelstm", 256),
           ("treelstm", 512), ("mvrnn", 64), ("mvrnn", 128), ("dagrnn", 256)]
QUICK = [("treefc", 256), ("treelstm", 256), ("mvrnn", 64), ("dagrnn", 256)]
ABLATION = {"no batching": {"batching": False}, "no leaf specialization": {"leaf_specialization": False},
            "no fusion": {"fusion": False}, "no level tiles": {"level_tiles": False}, "no hoisting": {"hoist": False},
            "unrolled (depth 2)": {"unroll": 2}, "refactored": {"refactor": True}}
# switches off; unrolling (trees only) and recursive refactoring (models whose cells project a child's state),
# both off by default, on


def applies(opts, model):
    unrolls_a_dag = opts.get("unroll", 1) > 1 and model.kind == "dag"
    return not unrolls_a_dag and not ("refactor" in opts and not projections(model))


def _ratio(a, k, fmt):
    return fmt.format(a[k][1] * 1e3, a[k][1] / a["alt"][1]) if k in a else "-"
VOCAB = 1000


def side_by_side(fns, warmup=10, rounds=7, min_time=0.01):
    """{name: (mean, median, min) seconds of fn()}: `warmup` calls each, then `rounds` rounds in
    which every fn runs for at least `min_time` (and at least twice), so that a slow spell of the
    machine falls on all of them alike."""
    settle()
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    ts = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            t_end, n = time.perf_counter() + min_time, 0
            while n < 2 or time.perf_counter() < t_end:
                t0 = time.perf_counter()
                fn()
                ts[k].append(time.perf_counter() - t0)
                n += 1
    return {k: (statistics.mean(v), statistics.median(v), min(v)) for k, v in ts.items()}


def datasets(kind, bs, seed):
    if kind == "dag":  # DAG-RNN over image regions: a 10 x 10 grid, each node reading its up and left neighbours
        return {"grid-10x10": [data.grid(10, 10, seed=seed + i, vocab=VOCAB) for i in range(bs)]}
    return {"SST": data.sst_like(bs, seed=seed, vocab=VOCAB),
            "complete-7": [data.complete(7, seed=seed + i, vocab=VOCAB) for i in range(bs)]}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help=f"{QUICK}, SST trees only")
    p.add_argument("--seed", type=whole(0), default=0)
    p.add_argument("--out", type=output, default="results/cortex")
    p.add_argument("--tune-trials", type=whole(0), default=None, help="cell-tuning candidates per model (default 12; "
                                                                      "--quick: 6; 0: no tuned column)")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    trials = args.tune_trials if args.tune_trials is not None else (6 if args.quick else 12)
    cell_log = str(out) + "-cells.jsonl"
    use_dynet = dynet_available()
    if not use_dynet:
        print("DyNet is not installed (pip install dynet38): no DyNet column")
    rows, ablation, lin_share = [], [], []
    print(f"{'model':9} {'H':>4} {'data':10} {'bs':>3} {'alt':>9} {'tuned':>9} {'eager':>9} {'batched':>9} "
          f"{'DyNet':>9} {'vs eager':>8} {'vs best':>8}  (median ms; vs: alt untuned)")
    for name, hidden in (QUICK if args.quick else CONFIGS):
        model = models.MODELS[name](hidden=hidden, vocab=VOCAB, seed=args.seed)
        net = compile(model)
        baselines = {"PyTorch eager": TorchEager(model), "PyTorch batched": TorchBatched(model)}
        if use_dynet:
            baselines["DyNet"] = Dynet(model)
        for bs in (1, 10):
            runs = {d: b for d, b in datasets(model.kind, bs, args.seed).items()
                    if not args.quick or d in ("SST", "grid-10x10")}
            contenders = {"alt": net}
            if trials:  # tuned for this batch size: SST (or the grid) at 1, the last (heavier) data at 10
                tuned_on = list(runs.values())[0 if bs == 1 else -1]
                tune_cells(model, trials=trials, log=cell_log, batch=tuned_on, seed=args.seed, quiet=True)
                contenders["alt tuned"] = compile_best(model, cell_log, batch=tuned_on)
            contenders.update(baselines)
            for dname, batch in runs.items():
                want = reference(model, batch)
                row = {"model": name, "hidden": hidden, "data": dname, "batch": bs,
                       "nodes": int(sum(len(t.word) for t in batch))}
                for label, f in contenders.items():
                    check_close(f(batch), want, f"{label} on {name} {dname} bs={bs}", rtol=1e-3)
                row.update(side_by_side({label: (lambda f=f: f(batch)) for label, f in contenders.items()}))
                if bs == 1:
                    lin = side_by_side({"lin": lambda: net.linearize(batch)})["lin"][1]
                    row["linearization"] = lin
                    lin_share.append(lin / row["alt"][1])
                base = [row[k][1] for k in contenders if not k.startswith("alt")]
                row["speedup vs eager"] = row["PyTorch eager"][1] / row["alt"][1]
                row["speedup vs best baseline"] = min(base) / row["alt"][1]
                rows.append(row)
                ms = lambda k: f"{row[k][1] * 1e3:9.3f}" if k in row else f"{'-':>9}"  # noqa: E731
                if "alt tuned" in row:
                    row["tuned over untuned"] = row["alt"][1] / row["alt tuned"][1]
                print(f"{name:9} {hidden:4d} {dname:10} {bs:3d} {ms('alt')} {ms('alt tuned')} {ms('PyTorch eager')} "
                      f"{ms('PyTorch batched')} {ms('DyNet')} {row['speedup vs eager']:8.1f} "
                      f"{row['speedup vs best baseline']:8.2f}", flush=True)
                if dname in ("SST", "grid-10x10"):
                    variants = {"alt": net}
                    for label, opts in ABLATION.items():
                        if not applies(opts, model):
                            continue
                        variants[label] = compile(model, **opts)
                        check_close(variants[label](batch), want, f"alt {label}", rtol=1e-3)
                    abl = {"model": name, "hidden": hidden, "batch": bs}
                    abl.update(side_by_side({label: (lambda v=v: v(batch)) for label, v in variants.items()}))
                    ablation.append(abl)
    geo = statistics.geometric_mean
    summary = {"geomean speedup vs PyTorch eager": geo([r["speedup vs eager"] for r in rows]),
               "geomean speedup vs best baseline": geo([r["speedup vs best baseline"] for r in rows]),
               "max speedup vs PyTorch eager (batch 1)": max(r["speedup vs eager"] for r in rows if r["batch"] == 1),
               "linearization share at batch 1 (median)": statistics.median(lin_share)}
    if trials:
        summary["geomean alt tuned over alt untuned"] = geo([r["tuned over untuned"] for r in rows])
        summary["geomean speedup of alt tuned vs best baseline"] = geo([
            min(r[k][1] for k in r if k in ("PyTorch eager", "PyTorch batched", "DyNet")) / r["alt tuned"][1]
            for r in rows])
    if use_dynet:
        summary["geomean speedup vs DyNet"] = geo([r["DyNet"][1] / r["alt"][1] for r in rows])
    for k, v in summary.items():
        print(f"{k}: {v:.2f}" + ("" if "share" not in k else f" ({v * 100:.1f}%)"))
    print("\nablation (median ms; SST trees, grids for DAG-RNN)")
    print(f"{'model':9} {'H':>4} {'bs':>3} {'alt':>9} " + " ".join(f"{k:>22}" for k in ABLATION))
    for a in ablation:
        print(f"{a['model']:9} {a['hidden']:4d} {a['batch']:3d} {a['alt'][1] * 1e3:9.3f} " +
              " ".join(f"{_ratio(a, k, '{:12.3f} ({:5.2f}x)'):>22}" for k in ABLATION))
    cpu = current().describe()
    print(f"on {cpu}")
    out.with_suffix(".json").write_text(json.dumps({"cpu": cpu, "tune_trials": trials, "rows": rows,
                                                    "ablation": ablation, "summary": summary}, indent=1))
    _markdown(rows, ablation, summary, out.with_suffix(".md"), cpu)
    png = _plot(rows, ablation, out.with_suffix(".png"))
    print(wrote(out.with_suffix(".json"), out.with_suffix(".md"), png))


def _markdown(rows, ablation, summary, path, cpu):
    labels = ["alt", "alt tuned", "PyTorch eager", "PyTorch batched", "DyNet"]
    md = ["| model | H | data | batch | nodes | " + " | ".join(f"{k} ms (median / min)" for k in labels) +
          " | alt vs eager | alt vs best baseline |", "|---" * (7 + len(labels)) + "|"]
    for r in rows:
        cells = [f"{r[k][1] * 1e3:.3f} / {r[k][2] * 1e3:.3f}" if k in r else "-" for k in labels]
        md.append(f"| {r['model']} | {r['hidden']} | {r['data']} | {r['batch']} | {r['nodes']} | " + " | ".join(cells) +
                  f" | {r['speedup vs eager']:.1f}x | {r['speedup vs best baseline']:.2f}x |")
    md.append("")
    md += [f"Measured on {cpu}.", ""]
    md += [f"- {k}: **{v:.2f}**" for k, v in summary.items()]
    md += ["", "| model | H | batch | alt ms | " + " | ".join(ABLATION) + " |", "|---" * (4 + len(ABLATION)) + "|"]
    for a in ablation:
        md.append(f"| {a['model']} | {a['hidden']} | {a['batch']} | {a['alt'][1] * 1e3:.3f} | " +
                  " | ".join(_ratio(a, k, "{:.3f} ({:.2f}x)") for k in ABLATION) + " |")
    path.write_text("\n".join(md) + "\n")


def _plot(rows, ablation, path):
    """Left: each baseline's latency over alt's; right: the ablation, each switch off over all on."""
    plt = pyplot()
    if plt is None:
        return None
    labels = [k for k in ("alt tuned", "PyTorch eager", "PyTorch batched", "DyNet") if k in rows[0]]
    names = [f"{r['model']}-{r['hidden']}\n{r['data']} bs{r['batch']}" for r in rows]
    x = np.arange(len(rows))
    fig, (ax, ab) = plt.subplots(1, 2, figsize=(max(12, len(rows) * 1.1), 4.8),
                                 gridspec_kw={"width_ratios": [2, 1]})
    w = 0.8 / len(labels)
    for i, k in enumerate(labels):
        ax.bar(x + (i - (len(labels) - 1) / 2) * w, [r[k][1] / r["alt"][1] for r in rows], w, label=f"{k} / alt")
    ax.set_yscale("log")
    ax.axhline(1.0, color="gray", lw=0.5)
    ax.set_xticks(x, names, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("latency relative to alt (higher: alt faster)")
    ax.legend(fontsize=7)
    xa = np.arange(len(ablation))
    wa = 0.8 / len(ABLATION)
    for i, k in enumerate(ABLATION):
        ab.bar(xa + (i - (len(ABLATION) - 1) / 2) * wa, [a[k][1] / a["alt"][1] if k in a else 0.0 for a in ablation],
               wa, label=k)
    ab.axhline(1.0, color="gray", lw=0.5)
    ab.set_xticks(xa, [f"{a['model']}-{a['hidden']} bs{a['batch']}" for a in ablation], rotation=60, ha="right",
                  fontsize=7)
    ab.set_ylabel("latency of the variant / alt's defaults")
    ab.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


if __name__ == "__main__":
    main()
