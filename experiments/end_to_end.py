"""ALT's end-to-end experiment: whole networks tuned by alt under its three graph strategies at the
same trial budget, next to PyTorch eager (NCHW and channels_last) and torch.compile, in one run.

    python -m experiments.end_to_end [--quick] [--models resnet18,bert_layer] [--trials-per-task 16]
                                     [--no-tvm] [--out results/end_to_end]

  alt        layouts and loops tuned jointly per operator, layouts chosen over the graph (DP)
  wp         the same tuning (the same records); each operator keeps its own best layout, and a
             conversion kernel goes wherever neighbours disagree (ALT-WP: no propagation)
  wp + fused conversions  wp's network with alt's conversion fusion (into padding stages,
             producers, elementwise readers): splits alt's gain over wp into fusion and the DP
  loop-only  NHWC everywhere, loops tuned with the same budget (ALT-OL)
  alt untuned (hand)  no tuning: the target's hand schedules with its channel blocks (a reference),
             3x3 stride-1 convolutions as Winograd's (alt.graph.compile_network's default)
  alt untuned, direct  the same with every convolution direct (what Winograd's algorithm buys)

Each network gets `trials-per-task` x (its tasks) trials per strategy. Every contender's output is
checked against PyTorch eager before it is timed; the timings are taken side by side in rounds
(min and median over rounds). The alt network is also rebuilt from its log and timed again.
torch.compile's compile time is reported apart. Where apache-tvm is installed, TVM MetaSchedule
tunes the same graph (exported from PyTorch into Relax, experiments.tvm_graph) with the same
budget as one alt strategy; its tuning time and the trials it measured are reported apart.
Writes <out>.json, <out>.md and <out>.png; the tuning logs go to <out>-logs/.
"""
import argparse
import json
import math
import statistics
import time
from pathlib import Path

import numpy as np

from alt.graph import compile_network, hand_layouts, zoo
from alt.graph.reference import run_torch
from alt.target import current
from experiments.report import pyplot, wrote
from experiments.timing import check_close, steady, torch_threads
from search import records as R
from search.cli import names, output, whole
from search.network import build_record, tune_network
from search.tasks import extract_tasks

MODELS = ["resnet18", "resnet50", "mobilenet_v2", "bert_layer"]
STRATEGIES = ["alt", "wp", "loop-only"]
QUICK = {"image": 56, "seq": 32}  # --quick: smaller inputs, one trial per task


def build_graph(name, quick):
    if not quick:
        return zoo.ZOO[name]()
    return zoo.bert_layer(seq=QUICK["seq"]) if name == "bert_layer" else zoo.ZOO[name](image=QUICK["image"])


def tune_all(g, budget, logs, quiet):
    """{strategy: (network record, Network)}: alt and loop-only tuned with `budget` trials each, wp
    chosen from alt's records (the same tuning, another graph-level rule)."""
    out = {}
    for strategy in STRATEGIES:
        log = logs / f"{g.name}-{strategy}.jsonl"
        if strategy == "wp":  # alt's operator records, without alt's network record: nothing left to tune
            log.unlink(missing_ok=True)  # made afresh from alt's, also on --resume
            copy = R.Log(str(log))
            for rec in R.Log(str(logs / f"{g.name}-alt.jsonl")).read():
                copy.append(rec)
        out[strategy] = tune_network(g, trials=budget, strategy=strategy, log=str(log), quiet=quiet)
    return out


def contenders(g, tuned, logs, torch, tvm_budget=None):
    """{name: (callable on the input array, timer of one call on prepared inputs, extra info)}."""
    from experiments.isolated import ChildDied
    from experiments.torch_graph import TorchNetwork
    out = {}
    for strategy, (rec, net) in tuned.items():
        predicted = rec["predicted_s"] * 1e3 if rec["predicted_s"] is not None else None
        out[strategy] = (net, net.time, {"predicted_ms": predicted, "trials": rec["trials"],
                                         "tuning_s": rec["tuning_seconds"], "stats": rec["stats"],
                                         "selection": rec.get("selection"), "winograd": net.winograd})
    if "wp" in tuned:
        fused = build_record(g, tuned["wp"][0], fuse_conversions=True)
        out["wp + fused conversions"] = (fused, fused.time, {})
    rebuilt = compile_network(g, log=str(logs / f"{g.name}-alt.jsonl"))
    out["alt (rebuilt from log)"] = (rebuilt, rebuilt.time, {"fallbacks": rebuilt.fallbacks})
    hand = compile_network(g, hand_layouts(g))  # untuned: the hand schedules in the target's blocks
    out["alt untuned (hand)"] = (hand, hand.time, {"winograd": hand.winograd})
    direct = compile_network(g, hand_layouts(g), winograd=False)
    out["alt untuned, direct"] = (direct, direct.time, {})
    if torch is not None:  # each in a process of its own, as a user runs PyTorch (experiments.isolated)
        for mode, label in (("eager", "PyTorch eager"), ("channels_last", "PyTorch channels_last"),
                            ("compile", "torch.compile")):
            try:
                tn = TorchNetwork(g, mode)
            except ChildDied as e:
                print(f"  {label} left out: {e}")
                continue
            out[label] = (tn.output, tn.time, {"compile_s": tn.compile_s} if mode == "compile" else {})
    if torch is not None and tvm_budget:
        from experiments.tvm_graph import TVMNetwork
        try:  # in a process of its own: a crash there costs this contender only
            tv = TVMNetwork(g, tvm_budget, log_path=str(logs / f"{g.name}-tvm.log"))
        except ChildDied as e:
            print(f"  TVM MetaSchedule left out: {e}")
        else:
            info = {"tuning_s": tv.tune_s, "trials": tv.trials_run, "tasks": tv.tasks}
            out["TVM MetaSchedule"] = (tv.output, tv.time, info)
    return out


def close(items):
    """End the processes of contenders that run in one of their own (PyTorch, TVM)."""
    for fn, _, _ in items.values():
        getattr(getattr(fn, "__self__", None), "close", lambda: None)()


def measure(g, items, want, x, rounds):
    """{name: [seconds per round]} after checking every contender's output against `want`."""
    for name, (fn, _, _) in items.items():
        check_close(fn(x), want, f"{g.name}: {name}", rtol=1e-3)
    times = {name: [] for name in items}
    for _ in range(rounds):
        for name, (_, timer, _) in items.items():
            times[name].append(steady(lambda: timer(x)))
    return times


def tuning_rate(rec):
    """Trials a minute of a network record's tuning, counting only the trials this run measured (a
    resumed run takes the others from its log)."""
    new = rec["trials"] - rec.get("resumed_trials", 0)
    if new <= 0:
        return f"all {rec['trials']} trials from the log (--resume), none measured by this run"
    rate = f"{new / max(1e-9, rec['tuning_seconds']) * 60:.0f} trials/min"
    if rec.get("resumed_trials"):
        rate += f" ({new} measured by this run, {rec['resumed_trials']} from the log)"
    return rate


def geomean(xs):
    xs = [x for x in xs if x and x > 0]
    return math.exp(sum(map(math.log, xs)) / len(xs)) if xs else float("nan")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help=f"smaller inputs ({QUICK}) and one trial per task")
    p.add_argument("--models", type=names(list(MODELS), "network of the model zoo"), default=list(MODELS))
    p.add_argument("--trials-per-task", type=whole(1), default=16, help="budget per strategy: this many x the tasks")
    p.add_argument("--rounds", type=whole(1), default=3, help="side-by-side timing rounds")
    p.add_argument("--out", type=output, default="results/end_to_end")
    p.add_argument("--verbose", action="store_true", help="progress bars of the tuning")
    p.add_argument("--no-tvm", action="store_true", help="skip TVM MetaSchedule even when it is installed")
    p.add_argument("--resume", action="store_true",
                   help="keep the tuning logs of an earlier run into the same --out: each strategy's tuning "
                        "measures only the trials its log lacks (default: a fresh budget, earlier logs removed)")
    args = p.parse_args(argv)
    per_task = 1 if args.quick else args.trials_per_task
    try:
        import torch
        torch_threads(torch)
    except ImportError:
        torch = None
        print("PyTorch is not installed (pip install -e '.[experiments]'): alt only, checked against alt's "
              "default build")
    out = Path(args.out)
    logs = out.parent / f"{out.name}-logs"
    logs.mkdir(parents=True, exist_ok=True)
    kept = list(logs.glob("*.jsonl"))
    if not args.resume:
        for old in kept:
            old.unlink()  # a fresh budget: no records of an earlier run
    cpu = current().describe()
    from experiments.tvm_baseline import available
    use_tvm = torch is not None and not args.no_tvm and available()
    print(f"on {cpu}; {per_task} trials per task and strategy; TVM MetaSchedule: "
          + ("the same budget" if use_tvm else "skipped (--no-tvm)" if args.no_tvm else
             "not installed (pip install -e '.[baselines]')")
          + (f"; resuming from {len(kept)} tuning logs in {logs}" if args.resume else ""))
    results = []
    for name in args.models:
        g = build_graph(name, args.quick)
        x = np.random.default_rng(0).standard_normal(g.inputs[0].shape).astype(np.float32)
        want = run_torch(g, x)[0] if torch is not None else compile_network(g)(x)
        budget = per_task * len(extract_tasks(g))
        t0 = time.perf_counter()
        tuned = tune_all(g, budget, logs, quiet=not args.verbose)
        tuning = time.perf_counter() - t0
        items = contenders(g, tuned, logs, torch, budget if use_tvm else None)
        try:
            times = measure(g, items, want, x, args.rounds)
        finally:
            close(items)
        row = {"model": name, "input": list(g.inputs[0].shape), "budget": budget, "tuning_s": tuning,
               "ms": {k: statistics.median(v) * 1e3 for k, v in times.items()},
               "min_ms": {k: min(v) * 1e3 for k, v in times.items()},
               "info": {k: v[2] for k, v in items.items()}}
        results.append(row)
        alt_ms = row["ms"]["alt"]
        print(f"\n{name} {row['input']}: {budget} trials per strategy ({tuning:.0f} s of tuning for all three)")
        for k in times:
            print(f"  {k:24} {row['ms'][k]:9.3f} ms (min {row['min_ms'][k]:9.3f})   alt is {row['ms'][k] / alt_ms:5.2f}x"
                  + (f"   compile {row['info'][k]['compile_s']:.1f} s" if "compile_s" in row["info"][k] else "")
                  + (f"   tuned {row['info'][k]['tuning_s']:.0f} s, {row['info'][k]['trials']} trials"
                     if k == "TVM MetaSchedule" else ""))
        print(f"  alt: {tuning_rate(tuned['alt'][0])}; time went to "
              + ", ".join(f"{k} {v:.1f} s" for k, v in tuned["alt"][0]["stats"].items()))
    summary, by_min = {}, {}
    for other in ["loop-only", "wp", "wp + fused conversions", "PyTorch eager", "PyTorch channels_last",
                  "torch.compile", "TVM MetaSchedule"]:
        ratios = [r["ms"][other] / r["ms"]["alt"] for r in results if other in r["ms"]]
        if ratios:
            summary[f"alt over {other}"] = geomean(ratios)
            by_min[f"alt over {other}"] = geomean([r["min_ms"][other] / r["min_ms"]["alt"] for r in results
                                                  if other in r["min_ms"]])
    print("\ngeometric means over the networks (of medians): "
          + ", ".join(f"{k} {v:.2f}x" for k, v in summary.items()))
    print("the same, of the fastest rounds: " + ", ".join(f"{k} {v:.2f}x" for k, v in by_min.items()))
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {"cpu": cpu, "quick": args.quick, "trials_per_task": per_task, "rows": results, "summary": summary,
           "summary_of_min": by_min, "resumed": args.resume}
    out.with_suffix(".json").write_text(json.dumps(doc, indent=1))
    out.with_suffix(".md").write_text(markdown(doc))
    png = _plot(results, out.with_suffix(".png"))
    print(wrote(out.with_suffix(".json"), out.with_suffix(".md"), png))


def markdown(doc):
    names = list(doc["rows"][0]["ms"]) if doc["rows"] else []
    lines = [f"End to end, batch 1, on {doc['cpu']}; {doc['trials_per_task']} trials per task and strategy"
             + (" (--quick: smaller inputs)" if doc["quick"] else ""), "",
             "| model | " + " | ".join(f"{n} ms" for n in names) + " |", "|---" * (len(names) + 1) + "|"]
    for r in doc["rows"]:
        lines.append(f"| {r['model']} {r['input']} | " + " | ".join(
            f"{r['ms'][n]:.3f} ({r['ms'][n] / r['ms']['alt']:.2f}x)" for n in names) + " |")
    lines += ["", "Each cell: median ms over rounds (its ratio to alt; > 1: alt is faster).", ""]
    for r in doc["rows"]:
        info = r.get("info", {})
        if "compile_s" in info.get("torch.compile", {}):
            lines.append(f"- {r['model']}: torch.compile compiled in {info['torch.compile']['compile_s']:.1f} s")
        if "TVM MetaSchedule" in info:
            t = info["TVM MetaSchedule"]
            lines.append(f"- {r['model']}: TVM MetaSchedule tuned {t['tasks']} fused tasks for {t['tuning_s']:.0f} s "
                         f"({t['trials']} trials measured; alt's budget per strategy: {r.get('budget')})")
        sel = info.get("alt", {}).get("selection")
        if sel:
            lines.append(f"- {r['model']}: alt kept the {sel['chosen']} network ("
                         + ", ".join(f"{k} {v * 1e3:.3f} ms" for k, v in sel["measured_s"].items()) + ")")
    lines.append("")
    by_min = doc.get("summary_of_min", {})
    lines += [f"- {k}: {v:.2f}x (geometric mean of medians"
              + (f"; of the fastest rounds: {by_min[k]:.2f}x)" if k in by_min else ")")
              for k, v in doc["summary"].items()]
    return "\n".join(lines) + "\n"


def _plot(results, path):
    plt = pyplot()
    if plt is None or not results:
        return None
    names = list(results[0]["ms"])
    fig, ax = plt.subplots(figsize=(12, 4))
    width = 0.8 / len(names)
    for j, n in enumerate(names):
        ax.bar([i + j * width for i in range(len(results))], [r["ms"]["alt"] / r["ms"][n] for r in results], width,
               label=n)
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(results))], [r["model"] for r in results])
    ax.set_ylabel("speed relative to alt (higher is faster)")
    ax.axhline(1.0, color="gray", linewidth=0.5)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the bars, not over them
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


if __name__ == "__main__":
    main()
