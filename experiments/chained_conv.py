"""ALT's two-chained-convolutions study: where two convolutions prefer different layouts, is it
better to propagate one's layout to the other, or to tune both and convert between them?

    python -m experiments.chained_conv [--quick] [--trials 32] [--out results/chained_conv]

For each pair x -> conv1 (3x3) -> ReLU -> conv2 (1x1, no padding, so a conversion between them is a
kernel of its own) -> global average pool, with the same budget (`trials` per convolution):
  FP   conv1 tuned over layouts and loops; its best layout propagated forward: conv2 reads and
       writes it, only conv2's loops tuned
  BP   conv2 tuned over layouts and loops; its input layout propagated backward: conv1 writes it,
       only conv1's loops tuned
  ALT  both tuned over layouts and loops (search.tune_network): the graph-level choice weighs each
       one's best layout against the measured conversion between them
The three networks are checked against PyTorch (or alt's default build) and timed side by side.
Writes <out>.json and <out>.md.
"""
import argparse
import json
import statistics
from pathlib import Path

import numpy as np

import alt.graph as G
from alt.graph import compile_network
from alt.target import current
from experiments.report import wrote
from experiments.timing import check_close, steady
from search import records as R
from search.cli import output, whole
from search.network import Choice, tune_network
from search.space import space_for
from search.tasks import workload_of
from search.tune import tune

# (c, size, o1) for conv1 3x3 pad 1; o2 for conv2 1x1: ResNet-50's bottleneck conv2 -> conv3 pairs
PAIRS = [(64, 56, 64, 256), (128, 28, 128, 512), (256, 14, 256, 1024)]
QUICK = [(32, 14, 32, 64)]


def pair_graph(c, size, o1, o2, seed=0):
    g = G.Graph(f"chain-{c}x{size}-{o1}-{o2}")
    rng = np.random.default_rng(seed)
    x = g.input((1, c, size, size))
    y = G.relu(G.conv2d(x, g.param(rng.standard_normal((o1, c, 3, 3)) * np.sqrt(2 / (9 * c)), "w1"), padding=1,
                        name="conv1"), name="relu")
    y = G.conv2d(y, g.param(rng.standard_normal((o2, o1, 1, 1)) * np.sqrt(2 / o1), "w2"), name="conv2")
    return g.output(G.global_avg_pool2d(y, name="gap"))


def _best(log, w):
    rec = R.Log(log).best(w)
    return Choice(w, rec["point"]), min(rec["costs"])


def propagate(g, first, trials, log, quiet):
    """FP (first='conv1') or BP (first='conv2'): tune `first` jointly, fix its layout on the other,
    tune the other's loops. Returns ({node: Choice}, note)."""
    nodes = {n.name: n for n in g.nodes}
    other = "conv2" if first == "conv1" else "conv1"
    w1, w2 = workload_of(nodes[first]), workload_of(nodes[other])
    tune(w1, trials=trials, strategy="alt", log=log, quiet=quiet, final=0, build=False)
    c1, _ = _best(log, w1)
    lay_in, lay_out = c1.layouts
    wanted = lay_out if first == "conv1" else lay_in  # the layout on the edge between them
    fixed = space_for(w2).knobs_for(wanted)
    note = f"{first} chose {lay_in} -> {lay_out}"
    if fixed is None:
        note += f"; {other} has no {wanted} layout in its template, so it keeps NHWC and a conversion is placed"
    tune(w2, trials=trials, strategy="loop-only", layout=fixed, log=log, quiet=quiet, final=0, build=False)
    c2, _ = _best(log, w2)
    return {first: c1, other: c2}, note


def build(g, choices):
    layouts = {n: c.layouts for n, c in choices.items()}
    return compile_network(g, layouts, schedules=choices)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="one small pair, 4 trials per convolution")
    p.add_argument("--trials", type=whole(1), default=32, help="trials per convolution (ALT: twice this for the pair)")
    p.add_argument("--rounds", type=whole(1), default=5)
    p.add_argument("--out", type=output, default="results/chained_conv")
    p.add_argument("--verbose", action="store_true")
    args = p.parse_args(argv)
    trials = 4 if args.quick else args.trials
    out = Path(args.out)
    logs = out.parent / f"{out.name}-logs"
    logs.mkdir(parents=True, exist_ok=True)
    for old in logs.glob("*.jsonl"):
        old.unlink()
    try:
        import torch
        from alt.graph.reference import run_torch
        from experiments.timing import torch_threads
        torch_threads(torch)
    except ImportError:
        run_torch = None
    cpu = current().describe()
    print(f"on {cpu}; {trials} trials per convolution and strategy")
    rows = []
    for c, size, o1, o2 in (QUICK if args.quick else PAIRS):
        g = pair_graph(c, size, o1, o2)
        x = np.random.default_rng(0).standard_normal(g.inputs[0].shape).astype(np.float32)
        want = run_torch(g, x)[0] if run_torch else compile_network(g)(x)
        nets, notes, layouts = {}, {}, {}
        for name, first in (("FP", "conv1"), ("BP", "conv2")):
            choices, notes[name] = propagate(g, first, trials, str(logs / f"{g.name}-{name}.jsonl"), not args.verbose)
            nets[name] = build(g, choices)
            layouts[name] = {n: list(ch.layouts) for n, ch in choices.items()}
        rec, nets["ALT"] = tune_network(g, trials=2 * trials, log=str(logs / f"{g.name}-ALT.jsonl"),
                                        quiet=not args.verbose)
        layouts["ALT"] = rec["layouts"]
        notes["ALT"] = f"conversions measured: {len(rec['conversions'])}"
        for name, net in nets.items():
            check_close(net(x), want, f"{g.name} {name}", rtol=1e-3)
        times = {name: [] for name in nets}
        for _ in range(args.rounds):
            for name, net in nets.items():
                times[name].append(steady(lambda: net.time(x)))
        ms = {k: statistics.median(v) * 1e3 for k, v in times.items()}
        row = {"pair": g.name, "ms": ms, "min_ms": {k: min(v) * 1e3 for k, v in times.items()}, "layouts": layouts,
               "notes": notes, "kernels": {k: n.n_kernels for k, n in nets.items()}}
        rows.append(row)
        print(f"\n{g.name}:")
        for k in nets:
            print(f"  {k:4} {ms[k]:8.3f} ms (min {row['min_ms'][k]:8.3f})  ALT is {ms[k] / ms['ALT']:5.2f}x  "
                  f"{nets[k].n_kernels} kernels  {layouts[k]}  {notes[k]}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"cpu": cpu, "trials": trials, "rows": rows}, indent=1))
    md = [f"Two chained convolutions on {cpu}; {trials} trials per convolution and strategy", "",
          "| pair | FP ms | BP ms | ALT ms | FP / ALT | BP / ALT | ALT's layouts (conv1, conv2) |", "|---" * 7 + "|"]
    for r in rows:
        m = r["ms"]
        lay = r["layouts"]["ALT"]
        md.append(f"| {r['pair']} | {m['FP']:.3f} | {m['BP']:.3f} | {m['ALT']:.3f} | {m['FP'] / m['ALT']:.2f} | "
                  f"{m['BP'] / m['ALT']:.2f} | {lay.get('conv1')}, {lay.get('conv2')} |")
    out.with_suffix(".md").write_text("\n".join(md) + "\n")
    print(wrote(out.with_suffix(".json"), out.with_suffix(".md")))


if __name__ == "__main__":
    main()
