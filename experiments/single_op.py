"""ALT's single-operator experiment: `alt` (joint layout + loop search) against `loop-only` (fixed
NHWC layout, loops tuned: ALT-OL, our Ansor stand-in) with the same trial budget, next to PyTorch
(its inputs in their own layout, and where they are 4-D or 5-D, in channels last too: the summary
also counts against the faster of the two) and numpy where they have the operator, and TVM
MetaSchedule with the same trial budget on the same compute definition when apache-tvm is
installed, all measured in one run.

    python -m experiments.single_op [--quick] [--trials 64] [--workloads C2D-1,R18-1 | all] [--no-tvm]
                                    [--out results/single_op] [--resume] [--target cuda]

With `--target cuda` (a GPU with pycuda): alt and loop-only tuned in the GPU space, against
PyTorch on the same GPU (cuBLAS/cuDNN, TF32 off), timed with CUDA synchronization.

Writes <out>.json, <out>.md and <out>.png (speedups normalized to loop-only). Every tuned result
was checked against the interpreter before its time counted; the tuning logs are kept next to them.
The JSON and Markdown are written again after every workload, and `--resume` keeps the rows of an
earlier run on the same CPU with the same trials and seed (those of workloads not asked this time
too, and the summary covers them all): the whole suite (`--workloads all`, 93 workloads, several
hours with MetaSchedule on 2 cores) can be measured over several sittings, a few workloads each.
"""
import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np

from alt.interp import evaluate
from alt.testing import random_inputs
from experiments import tvm_baseline
from experiments.peak import peak_gflops
from experiments.report import pyplot, wrote
from experiments.timing import time_callable, torch_threads
from search import records as R
from search.cli import output, whole, workloads
from search.tune import find_workload, tune

QUICK = ["GMM-0", "R18-4", "R18-8"]
DEFAULT = ["GMM-1", "GMM-3", "C2D-0", "C2D-2", "C2D-3", "DIL-2", "CBR-1", "CBR-3", "R18-1", "R18-4", "R18-7",
           "R18-10", "R50-3", "R50-10"]
CONV_FAMILY = ("C2D", "DIL", "CBR")


def torch_time(w, gpu=False, channels_last=False):
    """Seconds per call of PyTorch's operator on the workload's inputs in their own layout, or with
    `channels_last`, its 4-D and 5-D inputs in PyTorch's channels-last memory format (often its
    faster path on CPU: R18's first max_pool2d took 9x less time on an Intel Xeon); None where PyTorch
    lacks it, or where no input is 4-D or 5-D."""
    try:
        import torch
    except ImportError:
        return None
    torch_threads(torch)
    inputs, _ = w.build()
    feed = random_inputs(inputs, seed=0)
    ts = [torch.from_numpy(feed[t]) for t in inputs]
    if channels_last:
        formats = {4: torch.channels_last, 5: torch.channels_last_3d}
        if not any(t.ndim in formats for t in ts):
            return None
        ts = [t.contiguous(memory_format=formats[t.ndim]) if t.ndim in formats else t for t in ts]
    if gpu:  # cuBLAS/cuDNN in full fp32, as alt computes
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        ts = [t.cuda() for t in ts]

        def call():
            w.torch_call(torch, *ts)
            torch.cuda.synchronize()
        with torch.inference_mode():
            return time_callable(call)
    with torch.inference_mode():
        return time_callable(lambda: w.torch_call(torch, *ts))


def numpy_time(w):
    if w.op != "GMM":
        return None
    m, n, k = w.params
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((m, k), dtype=np.float32), rng.standard_normal((k, n), dtype=np.float32)
    return time_callable(lambda: a @ b)


def tvm_gflops(w, trials, log_path):
    """(GFLOP/s, tuning seconds) of MetaSchedule with `trials` trials; checked against the interpreter."""
    inputs, out = w.build()
    feed = random_inputs(inputs, seed=0)
    r = tvm_baseline.tune_isolated(w, trials, [feed[t] for t in inputs], evaluate(out, feed), time_callable,
                                   log_path=log_path)
    if "error" in r:
        print(f"  TVM MetaSchedule on {w.name}: {r['error']}")
        return 0.0, r["tune_s"]
    return w.flops / r["seconds"] / 1e9, r["tune_s"]


def summarize(rows):
    """The run's summary figures from its rows: tuning cost, and the geometric means."""
    cost = {k: sum(r[f"{s} seconds"].get(k, 0.0) for r in rows for s in ("alt", "loop-only"))
            for k in ("propose", "fit", "build", "run", "total", "measured")}
    conv = [r["alt"] / r["loop-only"] for r in rows if r["op"] in CONV_FAMILY and r["loop-only"] > 0]
    vs_tvm = [r["alt"] / r["tvm"] for r in rows if r.get("tvm")]
    vs_torch = [r["alt"] / r["torch"] for r in rows if r.get("torch")]
    vs_best = [r["alt"] / _torch_best(r) for r in rows if _torch_best(r)]
    return {"tuning_cost": cost,
            "conv_geomean_alt_over_loop_only": statistics.geometric_mean(conv) if conv else None,
            "conv_workloads": len(conv),
            "geomean_alt_over_tvm": statistics.geometric_mean(vs_tvm) if vs_tvm else None,
            "tvm_workloads": len(vs_tvm), "tvm_seconds": sum(r.get("tvm seconds") or 0.0 for r in rows),
            "geomean_alt_over_torch": statistics.geometric_mean(vs_torch) if vs_torch else None,
            "torch_workloads": len(vs_torch), "alt_at_least_torch": sum(v >= 1.0 for v in vs_torch),
            "geomean_alt_over_torch_best": statistics.geometric_mean(vs_best) if vs_best else None,
            "torch_best_workloads": len(vs_best), "alt_at_least_torch_best": sum(v >= 1.0 for v in vs_best)}


def _torch_best(row):
    """PyTorch's GFLOP/s in the faster of its two layouts (its own, channels last) where it has any."""
    return max(row.get("torch") or 0.0, row.get("torch channels_last") or 0.0) or None


def summary_lines(sm):
    """The summary in words, one line a figure (printed, and under the Markdown table)."""
    cost, out = sm["tuning_cost"], []
    if cost["total"]:
        model = cost["propose"] + cost["fit"]  # annealing against the model, and training it
        out.append(f"tuning cost: {cost['measured'] / cost['total'] * 60:.0f} trials/min; of {cost['total']:.0f} s, "
                   f"build {cost['build']:.0f} s, run {cost['run']:.0f} s, model + annealing {model:.0f} s "
                   f"({100 * model / cost['total']:.0f}%)")
    if sm["conv_geomean_alt_over_loop_only"]:
        out.append(f"geometric-mean speedup of alt over loop-only on the conv family: "
                   f"{sm['conv_geomean_alt_over_loop_only']:.2f}x ({sm['conv_workloads']} workloads)")
    if sm["geomean_alt_over_tvm"]:
        out.append(f"geometric-mean speedup of alt over TVM MetaSchedule (same trials): "
                   f"{sm['geomean_alt_over_tvm']:.2f}x "
                   f"({sm['tvm_workloads']} workloads; MetaSchedule tuned for {sm['tvm_seconds']:.0f} s)")
    if sm["geomean_alt_over_torch"]:
        out.append(f"alt over PyTorch: geometric mean {sm['geomean_alt_over_torch']:.2f}x; alt at least as fast on "
                   f"{sm['alt_at_least_torch']} of {sm['torch_workloads']} workloads")
    if sm.get("geomean_alt_over_torch_best"):
        out.append(f"alt over PyTorch in the faster of its own layout and channels last: geometric mean "
                   f"{sm['geomean_alt_over_torch_best']:.2f}x; alt at least as fast on "
                   f"{sm['alt_at_least_torch_best']} of {sm['torch_best_workloads']} workloads")
    return out


def _resumable(path, cpu, trials, seed, use_tvm):
    """Rows of an earlier run written to `path` with the same CPU, trials and seed (and with TVM's
    figure where TVM runs now): kept by --resume instead of being measured again."""
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    if doc.get("cpu") != cpu or doc.get("seed") != seed:
        return {}
    return {r["workload"]: r for r in doc.get("rows", [])
            if r.get("trials") == trials and (not use_tvm or r.get("tvm seconds") is not None)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help=f"{QUICK} with 16 trials each (a couple of minutes)")
    p.add_argument("--trials", type=whole(1), default=64)
    p.add_argument("--workloads", type=workloads(allow_all=True),
                   help="comma-separated suite names, or 'all' for every suite workload")
    p.add_argument("--seed", type=whole(0), default=0)
    p.add_argument("--no-tvm", action="store_true", help="skip TVM MetaSchedule even when it is installed")
    p.add_argument("--out", type=output, default="results/single_op")
    p.add_argument("--resume", action="store_true",
                   help="keep the rows of <out>.json measured on this CPU with the same trials and seed, and "
                        "measure only the others (the results are written after every workload)")
    p.add_argument("--target", default=None, help="an alt target: the host by default, or 'cuda' (needs a GPU)")
    args = p.parse_args(argv)
    from alt.errors import AltError
    from alt.ops import suite
    from alt.target import resolve
    from search.measure import check_runs_here
    try:
        target = check_runs_here(resolve(args.target))
    except AltError as e:
        p.error(str(e))
    gpu = target.kind == "cuda"
    names = ([w.name for w in suite()] if args.workloads == "all" else args.workloads if args.workloads
             else (QUICK if args.quick else DEFAULT))
    trials = 16 if args.quick and not args.workloads else args.trials
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    use_tvm = not args.no_tvm and not gpu and tvm_baseline.available()
    if not use_tvm:
        print("TVM MetaSchedule: " + ("skipped (--no-tvm)" if args.no_tvm
                                      else "not installed (pip install -e '.[baselines]')"))
    cpu = target.describe()
    kept = _resumable(out.with_suffix(".json"), cpu, trials, args.seed, use_tvm) if args.resume else {}
    others = [r for n, r in kept.items() if n not in names]  # earlier rows of workloads not asked this time
    if kept:
        print(f"resuming: {len([n for n in names if n in kept])} of {len(names)} workloads kept from "
              f"{out.with_suffix('.json')}" + (f", and its {len(others)} rows of other workloads" if others else ""))
    rows = []
    peak = None if gpu else peak_gflops()
    print(f"on {cpu}" + (f"; measured FMA peak {peak:.0f} GFLOP/s" if peak else ""))
    print(f"{'workload':8} {'loop-only':>10} {'alt':>8} {'%peak':>6} {'alt/OL':>7} {'TVM-MS':>8} {'torch':>8} "
          f"{'alt/torch':>9} {'torch-CL':>8} {'numpy':>8}  (GFLOP/s, {trials} trials each)  best layout")
    failed = []
    for name in names:
        try:
            row = kept.get(name) or _measure_row(find_workload(name), trials, args.seed, target, out, use_tvm, gpu)
        except (AltError, MemoryError, OSError) as e:  # one workload's failure does not stop a suite of 93
            failed.append(name)
            print(f"{name:8} failed, not measured ({type(e).__name__}: {e}); --resume measures it again", flush=True)
            continue
        rows.append(row)
        fmt = lambda v: f"{v:8.1f}" if v else f"{'-':>8}"  # noqa: E731
        vs_torch = f"{row['alt'] / row['torch']:9.2f}" if row["torch"] else f"{'-':>9}"
        pct = f"{100 * row['alt'] / peak:5.0f}%" if peak else f"{'-':>6}"
        print(f"{name:8} {row['loop-only']:10.1f} {row['alt']:8.1f} {pct} "
              f"{row['alt'] / row['loop-only']:7.2f} {fmt(row['tvm'])} {fmt(row['torch'])} {vs_torch} "
              f"{fmt(row.get('torch channels_last'))} {fmt(row['numpy'])}  {_layout(row)}"
              + (" (kept)" if name in kept else ""), flush=True)
        _write(out, cpu, peak, args.seed, trials, others + rows)  # after every workload: a stopped run keeps it
    if rows:
        if others:
            print(f"with the {len(others)} kept rows of other workloads ({', '.join(r['workload'] for r in others)}):")
        for line in summary_lines(summarize(others + rows)):
            print(line)
        png = _plot(others + rows, out.with_suffix(".png"))
        print(wrote(out.with_suffix(".json"), out.with_suffix(".md"), png))
    if failed:
        sys.exit(f"{len(failed)} workload(s) failed and are not in the table: {', '.join(failed)}")


def _measure_row(w, trials, seed, target, out, use_tvm, gpu):
    """One workload: alt and loop-only tuned, MetaSchedule, PyTorch and numpy; every figure checked."""
    row = {"workload": w.name, "op": w.op, "params": list(w.params), "trials": trials}
    for strategy in ("loop-only", "alt"):
        log = out.parent / f"{out.name}.{w.name}.{strategy}.jsonl"
        log.unlink(missing_ok=True)
        stats = {}
        rec, _ = tune(w, trials=trials, strategy=strategy, log=log, seed=seed, quiet=True, stats=stats,
                      target=target)
        row[strategy] = R.gflops(rec, w.flops)
        row[f"{strategy} seconds"] = stats
        row[f"{strategy} point"] = rec["point"]
        recs = R.Log(log).read(w)
        row[f"{strategy} errors"] = sum(r["error"] != R.OK for r in recs)
    row["tvm"], row["tvm seconds"] = (tvm_gflops(w, trials, out.parent / f"{out.name}.{w.name}.tvm.log")
                                      if use_tvm else (None, None))
    for ref, fn, args in (("torch", "torch_time", (w, gpu)), ("torch channels_last", "torch_time", (w, gpu, True)),
                          ("numpy", "numpy_time" if not gpu else None, (w,))):
        t = reference_time(ref, fn, *args) if fn else None
        row[ref] = w.flops / t / 1e9 if t else None
    return row


def reference_time(what, fn, *args):
    """Seconds per call of this module's timer `fn` (torch_time, numpy_time), run in a process of
    its own (experiments.isolated), as MetaSchedule is: in the long-running parent, after the
    tuners and MetaSchedule's child had run, PyTorch's small kernels once timed 40-600x slower than
    in a fresh process (BMM-0 3.2 ms against 0.08 ms, NRM-0 8 ms against 0.014 ms on an Intel Xeon),
    while its large ones did not. None where the reference has no such operator or its process died."""
    from experiments.isolated import ChildDied, call
    try:
        return call("experiments.single_op", fn, *args)  # by name: as `python -m`, this module is __main__
    except ChildDied as e:
        print(f"  {what} on {args[0].name}: not timed ({e})")
        return None


def _layout(row):
    """alt's chosen layout, and its algorithm where it is not the direct one."""
    point = row["alt point"]
    lay = point.get("layout", point.get("b_layout")) or "-"
    m = point.get("winograd", 0)
    return f"{lay}, Winograd F({m}x{m}, 3x3)" if m else lay


def _write(out, cpu, peak, seed, trials, rows):
    sm = summarize(rows)
    out.with_suffix(".json").write_text(json.dumps({"cpu": cpu, "peak_gflops": peak, "seed": seed, "rows": rows, **sm},
                                                   indent=1))
    md = [f"On {cpu}" + (f", measured FMA peak {peak:.0f} GFLOP/s" if peak else "") +
          f"; {trials} trials each, seed {seed}.\n",
          "| workload | loop-only GFLOP/s | alt GFLOP/s | alt % of peak | alt / loop-only | TVM MetaSchedule | "
          "PyTorch | PyTorch channels_last | numpy | alt's layout |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        f = lambda v: f"{v:.1f}" if v else "-"  # noqa: E731
        pct = f"{100 * r['alt'] / peak:.0f}%" if peak else "-"
        ratio = r["alt"] / r["loop-only"]
        md.append(f"| {r['workload']} | {r['loop-only']:.1f} | {r['alt']:.1f} | {pct} | {ratio:.2f} "
                  f"| {f(r['tvm'])} | {f(r['torch'])} | {f(r.get('torch channels_last'))} | {f(r['numpy'])} "
                  f"| {_layout(r)} |")
    md += [""] + summary_lines(sm)
    if any(r["alt point"].get("winograd") for r in rows):
        md.append("GFLOP/s count a direct convolution's multiply-adds for every contender; a Winograd point does "
                  "fewer, so its % of peak can pass 100%.")
    out.with_suffix(".md").write_text("\n".join(md) + "\n")


def _plot(rows, path):
    plt = pyplot()
    if plt is None:
        return None
    names = [r["workload"] for r in rows]
    series = {"loop-only": [1.0] * len(rows), "alt": [r["alt"] / r["loop-only"] for r in rows],
              "TVM MetaSchedule": [(r["tvm"] or 0) / r["loop-only"] for r in rows],
              "PyTorch": [(r["torch"] or 0) / r["loop-only"] for r in rows]}
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(max(6, len(rows) * 0.8), 4))
    for i, (label, vals) in enumerate(series.items()):
        ax.bar(x + (i - 1.5) * 0.2, vals, 0.2, label=label)
    ax.set_xticks(x, names, rotation=45, ha="right")
    ax.set_ylabel("speedup over loop-only (same trials)")
    ax.axhline(1.0, color="gray", lw=0.5)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


if __name__ == "__main__":
    main()
