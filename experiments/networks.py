"""Whole networks of the model zoo compiled by alt under several layout assignments, next to the
same network run by PyTorch (torch.nn.functional, eager, same weights) in one run.

    python -m experiments.networks [--models resnet18,bert_layer] [--out results/networks]

Prints latency, the compile time and where it goes, and checks every output against PyTorch.
"""
import argparse
import json
from pathlib import Path

import numpy as np

from alt.graph import compile_network, hand_layouts, zoo
from alt.target import current
from alt.graph.reference import run_torch
from experiments.timing import check_close, steady, torch_threads
from experiments.torch_graph import TorchNetwork
from search.cli import names, output


def layout_choices(g):
    """Fixed layout assignments of the convolutions: NCHW; NCHW{lanes}c (one vector of the target,
    NCHW16c on AVX-512 and NCHW8c on AVX2); the target's blocks (alt.graph.hand_layouts: each
    convolution in its register tile's vectors of channels); NHWC."""
    convs = [n for n in g.nodes if n.op == "conv2d" and n.attrs["groups"] == 1]
    lanes = current().lanes()
    out = {"NCHW (default)": {}}
    one = {n.name: f"NCHW{lanes}c" for n in convs if n.output.shape[1] % lanes == 0}
    if one:
        out[f"NCHW{lanes}c"] = one
        out["target blocks"] = hand_layouts(g)
        out["NHWC"] = {n.name: "NHWC" for n in convs}
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", type=names(list(zoo.ZOO), "network of the model zoo"), default=list(zoo.ZOO))
    p.add_argument("--out", type=output, default="results/networks")
    p.add_argument("--show-plan", action="store_true", help="print the layout plan of each compiled network")
    args = p.parse_args(argv)
    import torch
    torch_threads(torch)
    rows = []
    print(f"on {current().describe()}")
    print(f"{'model':13} {'layouts':15} {'kernels':>7} {'compile s':>9} {'(lower':>7} {'gcc)':>6} "
          f"{'alt ms':>8} {'torch ms':>8} {'speedup':>7}")
    for name in args.models:
        g = zoo.ZOO[name]()
        x = np.random.default_rng(0).standard_normal(g.inputs[0].shape).astype(np.float32)
        want = run_torch(g, x)[0]
        with TorchNetwork(g, "eager") as tn:  # in a process of its own (experiments.isolated says why)
            t_torch = steady(lambda: tn.time(x))
        for label, assign in layout_choices(g).items():
            net = compile_network(g, assign)
            check_close(net(x), want, f"{name} {label}", rtol=1e-4)
            t_alt = steady(lambda: net.time(x))
            st = net.compile_stats
            total = sum(st.values())
            rows.append({"model": name, "layouts": label, "kernels": net.n_kernels, "compile_s": total,
                         "compile": st, "alt_ms": t_alt * 1e3, "torch_ms": t_torch * 1e3,
                         "workspace_mb": net.workspace_bytes / 2 ** 20})
            print(f"{name:13} {label:15} {net.n_kernels:7d} {total:9.2f} {st['schedule+lower']:7.2f} "
                  f"{st['gcc']:6.2f} {t_alt * 1e3:8.2f} {t_torch * 1e3:8.2f} {t_torch / t_alt:7.2f}", flush=True)
            if args.show_plan:
                print(net.plan)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"cpu": current().describe(), "rows": rows}, indent=1))
    md = ["| model | layouts | kernels | compile s (lower / gcc) | alt ms | PyTorch ms | speedup |",
          "|---|---|---|---|---|---|---|"]
    md += [f"| {r['model']} | {r['layouts']} | {r['kernels']} | {r['compile_s']:.2f} "
           f"({r['compile']['schedule+lower']:.2f} / {r['compile']['gcc']:.2f}) | {r['alt_ms']:.2f} | "
           f"{r['torch_ms']:.2f} | {r['torch_ms'] / r['alt_ms']:.2f} |" for r in rows]
    out.with_suffix(".md").write_text("\n".join(md) + "\n")
    print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
