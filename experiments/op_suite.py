"""Every operator of the suite with its default schedule next to PyTorch, and the ResNet conv2d
layers under three layouts (NCHW, NHWC, and NCHW{b}c with b channels a vector of the target:
NCHW16c on AVX-512, NCHW8c on AVX2) with one fixed loop schedule each, and the 3x3 stride-1 ones
as Winograd convolutions F(2x2) and F(4x4) in the target's channel blocks (GFLOP/s of the direct
convolution's flops: the time against the same work).

    python -m experiments.op_suite [--ops C2D,GMM] [--quick] [--out results/op_suite]

Every alt result is checked against PyTorch before it is timed. Writes <out>.json and <out>.md.
"""
import argparse
import json
from pathlib import Path

import numpy as np

import alt
from alt.ops import suite
from alt.ops.hand import blocked_layout, conv_schedule
from alt.target import current
from alt.testing import random_inputs
from experiments.timing import check_close, time_callable, time_kernel, torch_threads
from search.cli import output, whole


def _torch_timer(w, arrays, channels_last=False):
    """Seconds per call of PyTorch's `w` on `arrays`, timed in a process of its own (as
    experiments.single_op times it; experiments.isolated says why)."""
    from experiments.isolated import call
    return call("experiments.op_suite", "torch_time", w, arrays, channels_last)


def torch_time(w, arrays, channels_last=False):
    """_torch_timer's child: PyTorch's `w` timed in this process."""
    import torch
    torch_threads(torch)
    ts = [torch.from_numpy(a) for a in arrays]
    if channels_last:
        ts = [t.contiguous(memory_format=torch.channels_last) if t.ndim == 4 else t for t in ts]
    with torch.inference_mode():
        return time_callable(lambda: w.torch_call(torch, *ts))


def _rtol(w, out):
    """float32 sums accumulate rounding with their length: allow more for reductions over > 2**20."""
    per_output = w.flops / max(1, int(np.prod(out.shape)))
    return 1e-3 if per_output < 2 ** 21 else 1e-2


def run_default(w, repeat):
    inputs, out = w.build()
    s = alt.ops.default_schedule(out)
    f = alt.build(s, inputs + [out])
    feed = random_inputs(inputs, seed=0)
    arrays = [feed[t] for t in inputs]
    got = np.empty(out.shape, np.float32)
    f(*arrays, got)
    check_close(got, w.torch(*arrays), w.name, rtol=_rtol(w, out))
    t_alt = time_kernel(f, *arrays, got, repeat=repeat)
    t_torch = _torch_timer(w, arrays)
    return {"workload": w.name, "op": w.op, "params": list(w.params), "gflops_alt": w.flops / t_alt / 1e9,
            "gflops_torch": w.flops / t_torch / 1e9, "ms_alt": t_alt * 1e3, "ms_torch": t_torch * 1e3}


def layouts():
    return ["NCHW", "NHWC", blocked_layout()]


def run_layouts(w, repeat):
    row = {"workload": w.name, "params": list(w.params)}
    feed = None
    for layout in layouts():
        inputs, out = w.build()
        s = conv_schedule(layout)(alt.create_schedule(out), out)
        f = alt.build(s, inputs + [out])
        if feed is None:
            feed = {t.name: a for t, a in random_inputs(inputs, seed=0).items()}
            logical = [feed[t.name] for t in inputs]
            want = w.torch(*logical)
        arrays = [f.pack(t, feed[t.name]) for t in inputs]  # the previous layer would produce this layout
        got = np.empty(s.layout_of(out).shape, np.float32)
        f(*arrays, got)
        check_close(f.unpack(out, got), want, f"{w.name} {layout}", rtol=1e-3)
        row[layout] = w.flops / time_kernel(f, *arrays, got, repeat=repeat) / 1e9
    row.update(run_winograd(w, feed, want, repeat))
    row["torch NCHW"] = w.flops / _torch_timer(w, logical) / 1e9
    row["torch NHWC"] = w.flops / _torch_timer(w, logical, channels_last=True) / 1e9
    return row


WINOGRAD = ["F(2x2)", "F(4x4)"]


def _cell(v, width):
    return f"{v:{width}.1f}" if v is not None else f"{'-':>{width}}"


def run_winograd(w, feed, want, repeat):
    """{F(2x2), F(4x4)}: GFLOP/s (the direct convolution's flops) of the Winograd convolution in the
    target's channel blocks, checked against PyTorch; None where the layer is not 3x3 stride 1."""
    from alt.ops.winograd import conv2d_winograd, eligible, schedule_winograd, winograd_weight
    n, c, size, o, k, s, p = w.params
    lanes = current().lanes("float32")
    if not eligible(s, p, 1, 1, (k, k)) or c % lanes or o % lanes:
        return dict.fromkeys(WINOGRAD)
    row = {}
    for m, col in zip((2, 4), WINOGRAD):
        (X, W), _ = w.build()
        U = alt.placeholder(((m + 2) ** 2, o, c), name="U")
        Y = conv2d_winograd(X, U, m, p)
        s_ = schedule_winograd(alt.create_schedule(Y), Y, layout=blocked_layout(channels=o, width=Y.shape[3]))
        f = alt.build(s_, [X, U, Y])
        arrays = [f.pack(X, feed[X.name]), f.pack(U, winograd_weight(feed[W.name], m))]
        got = np.empty(s_.layout_of(Y).shape, np.float32)
        f(*arrays, got)
        check_close(f.unpack(Y, got), want, f"{w.name} {col}", rtol=1e-3)
        row[col] = w.flops / time_kernel(f, *arrays, got, repeat=repeat) / 1e9
    return row


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ops", help="comma-separated operator codes (default: all)")
    p.add_argument("--quick", action="store_true", help="first configuration of each operator, a few ResNet layers")
    p.add_argument("--repeat", type=whole(1), default=5)
    p.add_argument("--out", type=output, default="results/op_suite")
    args = p.parse_args(argv)
    ops = args.ops.split(",") if args.ops else None
    work = [w for w in suite(ops, resnet=False)]
    layers = [w for w in suite(["C2D"]) if w.name.startswith(("R18", "R50"))] if (ops is None or "C2D" in ops) else []
    if args.quick:
        work = [w for w in work if w.name.endswith("-0")]
        layers = layers[:3]
    rows, lrows = [], []
    print(f"on {current().describe()}")
    print(f"{'workload':8} {'alt GFLOP/s':>11} {'torch GFLOP/s':>13} {'alt/torch':>9}")
    for w in work:
        r = run_default(w, args.repeat)
        rows.append(r)
        print(f"{w.name:8} {r['gflops_alt']:11.1f} {r['gflops_torch']:13.1f} {r['gflops_alt'] / r['gflops_torch']:9.2f}",
              flush=True)
    cols = layouts() + WINOGRAD + ["torch NCHW", "torch NHWC"]
    if layers:
        print(f"\n{'layer':6} {'(c, hw, o, k, s, p)':24} " + " ".join(f"{c:>10}" for c in cols) + "  best alt layout")
    for w in layers:
        r = run_layouts(w, args.repeat)
        r["best"] = max(layouts(), key=lambda k: r[k])
        lrows.append(r)
        cells = " ".join(_cell(r[c], 10) for c in cols)
        print(f"{w.name:6} {str(tuple(w.params[1:])):24} {cells}  {r['best']}", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"machine": current().describe(), "repeat": args.repeat,
            "note": f"GFLOP/s, median of repeats; alt default schedules vs PyTorch, {current().cores} threads"}
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, "ops": rows, "layouts": lrows}, indent=1))
    md = ["| workload | params | alt default GFLOP/s | PyTorch GFLOP/s | alt / PyTorch |", "|---|---|---|---|---|"]
    md += [f"| {r['workload']} | {tuple(r['params'])} | {r['gflops_alt']:.1f} | {r['gflops_torch']:.1f} | "
           f"{r['gflops_alt'] / r['gflops_torch']:.2f} |" for r in rows]
    if lrows:
        md += ["", "| layer | (n, c, hw, o, k, s, p) | " + " | ".join(cols) + " | best alt layout |",
               "|---|---|" + "---|" * (len(cols) + 1)]
        md += [f"| {r['workload']} | {tuple(r['params'])} | " + " | ".join(_cell(r[c], 0) for c in cols) +
               f" | {r['best']} |" for r in lrows]
    out.with_suffix(".md").write_text("\n".join(md) + "\n")
    print(f"\nwrote {out.with_suffix('.json')} and {out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
