"""The `alt` command line (also `python -m alt`): tune a workload, list the suite, the best records
of a log, the C source of a best kernel.

    alt list
    alt tune C2D-1 --trials 64 --strategy alt --log run.jsonl
    alt tune C2D --shape 1,64,56,64,3,1,1 --trials 64
    alt tune mypackage.ops:my_operator --shape 256,512 --trials 64
    alt tune GMM-3 --target znver3 --threads 2      # for another CPU (compiled here, measured where it runs)
    alt tune C2D-2 --scheduler tcp://host:8786      # measured on a dask cluster's workers of the target
    alt best run.jsonl
    alt show run.jsonl --workload C2D-1
    alt tune-net resnet18 --trials 512 --log r18.jsonl          # a whole network, layouts chosen jointly
    alt tune-cell treelstm --hidden 256 --trials 24 --log cells.jsonl   # a recursive model's cells

A user's mistake prints one line and exits with status 2; a failure of the measuring machinery
exits with 1; Ctrl-C leaves a log that the same command resumes (status 130).
"""
import argparse
import logging
import os
import statistics
import sys
from pathlib import Path

import alt
from alt.errors import AltError
from alt.ops import suite
from alt.ops.suite import operator_codes, operator_parameters
from alt.target import Target, resolve

from . import records as R
from .measure import PROC_BINDS, WAIT_POLICIES
from .strategy import MODELS, OPTIONS, STRATEGIES


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage block
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def names(known, what):
    """An argparse type: names separated by commas, each one of `known` (a `what`, e.g. "network")."""
    def parse(text):
        got = [x.strip() for x in text.split(",") if x.strip()]
        bad = [x for x in got if x not in known]
        if bad or not got:
            raise argparse.ArgumentTypeError(f"{', '.join(bad) or repr(text)}: not a {what}; give one or more of "
                                             f"{', '.join(known)}, separated by commas")
        return got
    return parse


def workloads(allow_all=False):
    """An argparse type: suite workload names separated by commas (or 'all', where `allow_all`),
    each one that search.tune knows; a list of names ('all' kept as it is)."""
    def parse(text):
        if allow_all and text.strip() == "all":
            return "all"
        got = [x.strip() for x in text.split(",") if x.strip()]
        if not got:
            raise argparse.ArgumentTypeError(f"{text!r}: give suite workload names separated by commas, e.g. "
                                             "GMM-1,R18-4" + (", or all" if allow_all else ""))
        from .tune import find_workload
        for name in got:
            try:
                find_workload(name)
            except AltError as e:
                raise argparse.ArgumentTypeError(str(e)) from None
        return got
    return parse


def output(text):
    """An argparse type: where an experiment writes (a file, or a prefix for its .json/.md/.png),
    its folder made now, so that a path that cannot be written is a usage error before any work."""
    path = Path(text)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise argparse.ArgumentTypeError(f"{text!r}: cannot make its folder {str(path.parent)!r} "
                                         f"({e.strerror or e})") from None
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a folder; give a file name in it (results are written to "
                                         "<out>.json, .md and .png)")
    return path


def whole(least):
    """An argparse type: a whole number >= least (the experiments' options use it too)."""
    def parse(text):
        try:
            n = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if n < least:
            raise argparse.ArgumentTypeError(f"{n} is too small; give at least {least}")
        return n
    return parse


def _shape(text):
    parts = text.split(",")
    try:
        return tuple(int(x) for x in parts)
    except ValueError:
        bad = next(x for x in parts if not x.strip().lstrip("-").isdigit())
        raise argparse.ArgumentTypeError(f"{text!r}: {bad!r} is not an integer; give integers separated by "
                                         "commas, e.g. 512,512,512") from None


def _setting(text):
    """SETTING=VALUE of `alt tune --set`, as (setting, value); the value is checked by search.tune."""
    name, eq, value = text.partition("=")
    if not eq or not name or not value:
        raise argparse.ArgumentTypeError(f"{text!r} is not SETTING=VALUE (e.g. joint_share=0.25)")
    return name, value


def _settings_help():
    """The settings of search.strategy.OPTIONS, every strategy's then each strategy's own."""
    def one(opt, spec):
        return f"{opt} ({'|'.join(spec[1])})" if spec[0] is str else opt
    return "; ".join(("every strategy's: " if who == "*" else f"{who}'s: ")
                     + ", ".join(one(o, v) for o, v in opts.items()) for who, opts in OPTIONS.items())


def parser():
    fmt = argparse.ArgumentDefaultsHelpFormatter
    p = _Parser(prog="alt", description="alt: joint data-layout and loop tuning (ALT), recursive models (Cortex)",
                formatter_class=fmt)
    p.add_argument("--version", action="version", version=f"alt {alt.__version__}")
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=_Parser, metavar="{list,tune,tune-net,tune-cell,best,show}")
    sub.add_parser("list", help="the suite's workloads with their operator, parameters and GFLOP",
                   formatter_class=fmt)
    t = sub.add_parser("tune", help="tune one workload and print its best record", formatter_class=fmt)
    t.add_argument("workload", help="a suite workload (e.g. C2D-1, R50-3, GMM-0; see `alt list`), an operator "
                                    "code with --shape, or a user operator 'package.module:function' with --shape")
    t.add_argument("--shape", type=_shape, help="operator parameters separated by commas, e.g. 1,64,56,64,3,1,1 "
                                                "for C2D (n, c, size, o, k, stride, pad) or 512,512,512 for GMM "
                                                "(m, n, k)")
    t.add_argument("--trials", type=whole(1), default=64, help="candidates to measure in all (a resumed log's "
                                                               "records of the same strategy count)")
    t.add_argument("--strategy", choices=sorted(STRATEGIES), default="alt",
                   help="alt: layouts and loops jointly; loop-only: NHWC fixed (ALT-OL); layout-then-loop; random")
    t.add_argument("--model", choices=list(MODELS), default="gbt",
                   help="cost model guiding the search: gradient-boosted trees, or random guidance")
    t.add_argument("--log", help="JSON-lines record file: each measurement is appended as it finishes, and an "
                                 "existing log resumes")
    t.add_argument("--batch", type=whole(1), default=8, help="candidates proposed, built and measured per round")
    t.add_argument("--seed", type=whole(0), default=0, help="seed of the search's random generator")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.add_argument("--final", type=whole(0), default=4, help="best candidates measured again at the end, the winner "
                                                             "chosen among them (0: none)")
    t.add_argument("--transfer", action="append", metavar="LOG", help="a log of other workloads' tunings whose "
                   "records warm the cost model before the first proposal (transfer learning; may be repeated)")
    t.add_argument("--set", action="append", type=_setting, metavar="SETTING=VALUE", dest="settings",
                   help="change a setting of the strategy, e.g. joint_share=0.25, model_target=share or "
                        "model_features=1 "
                        f"(search.strategy.OPTIONS: {_settings_help()}); may be repeated")
    n = sub.add_parser("tune-net", help="tune a whole network of the model zoo, its layouts chosen jointly with its "
                                        "loops, and time it", formatter_class=fmt)
    n.add_argument("network", help="a network of alt.graph.zoo: " + ", ".join(_zoo_names()))
    n.add_argument("--trials", type=whole(1), help="candidates to measure in all, shared among the network's tasks "
                                                   "by the task scheduler (default: 32 per task)")
    n.add_argument("--strategy", choices=["alt", "wp", "loop-only"], default="alt",
                   help="alt: layouts chosen jointly over the graph; wp: each operator's own best layout (ALT-WP); "
                        "loop-only: NHWC everywhere, loops tuned (ALT-OL)")
    n.add_argument("--image", type=whole(8), help="input image size of a CNN (default: the network's own, 224)")
    n.add_argument("--log", help="JSON-lines record file: operator records as they finish and the network record at "
                                 "the end; an existing log resumes")
    for c in (t, n):
        if c is n:
            n.add_argument("--batch", type=whole(1), default=8, help="candidates per round of the task scheduler")
            n.add_argument("--seed", type=whole(0), default=0, help="seed of the search's random generator")
            n.add_argument("--quiet", action="store_true", help="no progress bar")
            n.add_argument("--model", choices=list(MODELS), default="gbt", help="cost model guiding the search")
        c.add_argument("--threads", type=whole(1), help="OpenMP threads of the measured kernels (default: the "
                                                        "target's cores)")
        c.add_argument("--proc-bind", choices=PROC_BINDS, default="close", help="OMP_PROC_BIND of the measured "
                                                                                "kernels")
        c.add_argument("--wait-policy", choices=WAIT_POLICIES, default="default",
                       help="OMP_WAIT_POLICY of the measured kernels (default: libgomp's, as in a user's process)")
    t.add_argument("--scheduler", help="a dask scheduler's address (tcp://host:8786): build and time the candidates "
                                       "on its workers whose machine is the target, one candidate per worker at a "
                                       "time")
    c = sub.add_parser("tune-cell", help="tune the cells of a recursive model (Cortex's models) on SST-like trees "
                                         "(grids for dagrnn) and time it against its untuned cells", formatter_class=fmt)
    c.add_argument("model", choices=["treefc", "treegru", "treelstm", "mvrnn", "dagrnn"])
    c.add_argument("--hidden", type=whole(1), default=256, help="hidden size")
    c.add_argument("--structures", type=whole(1), default=1, help="SST-like structures per batch the cells are timed on "
                   "(records are kept per batch: compile_best(model, log, batch=...) replays them)")
    c.add_argument("--trials", type=whole(1), default=24, help="candidates to measure in all (a resumed log's count)")
    c.add_argument("--log", help="JSON-lines record file: each measurement appended as it finishes; an existing log "
                                 "resumes")
    c.add_argument("--seed", type=whole(0), default=0, help="seed of the search and of the model's weights")
    c.add_argument("--quiet", action="store_true", help="no line per candidate")
    b = sub.add_parser("best", help="the best record of every workload in a log", formatter_class=fmt)
    b.add_argument("log", help="a JSON-lines record file written by `alt tune --log`")
    s = sub.add_parser("show", help="the C source of the best record of a workload in a log", formatter_class=fmt)
    s.add_argument("log", help="a JSON-lines record file written by `alt tune --log`")
    s.add_argument("--workload", required=True, help="the workload's name in the log, e.g. C2D-1")
    for c in (t, n, c, b, s):
        c.add_argument("--target", default=None,
                       help="the machine to compile and tune for: host, avx2, avx512, a gcc -march name "
                            "(znver3, sapphirerapids...) or 'c -mcpu=NAME -cores=N' (default: $ALT_TARGET, else "
                            "the host)")
    return p


def main(argv=None):
    p = parser()
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    try:
        return {"list": _list, "tune": _tune, "tune-net": _tune_net, "tune-cell": _tune_cell, "best": _best, "show": _show}[args.cmd](args)
    except BrokenPipeError:  # `alt list | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 0
    except KeyboardInterrupt:
        where = f"; the records measured so far are in {args.log}: run the same command to resume" \
            if getattr(args, "log", None) else ""
        print(f"alt {args.cmd}: interrupted{where}", file=sys.stderr)
        return 130
    except (alt.WorkloadError, alt.OptionError, alt.ScheduleError, alt.ComputeError, alt.TargetError) as e:
        print(f"alt {args.cmd}: error: {e}", file=sys.stderr)  # the user's input
        return 2
    except AltError as e:
        print(f"alt {args.cmd}: failed: {e}", file=sys.stderr)
        return 1


def _list(args):
    print(f"{'workload':10} {'operator':8} {'GFLOP':>9}  parameters")
    for w in suite():
        names = ", ".join(f"{n}={v}" for n, v in zip(operator_parameters(w.op), w.params))
        print(f"{w.name:10} {w.op:8} {w.flops / 1e9:9.3f}  {names}")
    return 0


def _tune(args):
    from .tune import find_workload, tune
    w = find_workload(args.workload, args.shape)
    target = Target.parse(args.target) if args.target else None
    opts = {"threads": args.threads, "proc_bind": args.proc_bind, "wait_policy": args.wait_policy}
    rec, kernel = tune(w, trials=args.trials, strategy=args.strategy, log=args.log, seed=args.seed,
                       batch=args.batch, model=args.model, quiet=args.quiet, target=target, final=args.final,
                       measure_options=opts, scheduler=args.scheduler, transfer=args.transfer,
                       strategy_options=dict(args.settings or ()))
    costs = rec["costs"]
    print(f"{w.name}: best {R.gflops(rec, w.flops):.1f} GFLOP/s ({min(costs) * 1e3:.3f} ms, median "
          f"{statistics.median(costs) * 1e3:.3f} ms) with {rec['point']} on {kernel.target.describe()}, "
          f"{rec['run']['threads']} threads")
    return 0


def _zoo_names():
    from alt.graph import zoo
    return list(zoo.ZOO)


def _tune_net(args):
    from alt.graph import zoo
    from .network import tune_network
    if args.network not in zoo.ZOO:
        raise alt.OptionError(f"no network {args.network!r} in the model zoo; use one of {list(zoo.ZOO)}")
    if args.image and args.network == "bert_layer":
        raise alt.OptionError("--image sets a CNN's input size; bert_layer takes a sequence, not an image")
    graph = zoo.ZOO[args.network](**({"image": args.image} if args.image else {}))
    target = Target.parse(args.target) if args.target else None
    opts = {"threads": args.threads, "proc_bind": args.proc_bind, "wait_policy": args.wait_policy}
    rec, net = tune_network(graph, trials=args.trials, strategy=args.strategy, log=args.log, seed=args.seed,
                            batch=args.batch, model=args.model, quiet=args.quiet, measure_options=opts,
                            target=target)
    blocked = sum(1 for v in rec["layouts"].values() if v[1] != "NHWC" and v[1] != "NCHW")
    predicted = (f"predicted from the tuned operators and conversions: {rec['predicted_s'] * 1e3:.3f} ms"
                 if rec["predicted_s"] is not None else "the untuned hand-scheduled network was the fastest")
    print(f"{graph.name}: {rec['latency_s'] * 1e3:.3f} ms per forward pass ({predicted}), {rec['trials']} trials, "
          f"strategy {args.strategy}, on {resolve(target).describe()}")
    print(f"  {len(rec['choices'])} tuned nodes, {blocked} with channel-blocked outputs, {net.n_kernels} kernels"
          + (f"; default schedules for {', '.join(net.fallbacks)}" if net.fallbacks else ""))
    if args.log:
        print(f"  rebuild it with alt.graph.compile_network(graph, log={args.log!r})")
    return 0


def _tune_cell(args):
    from alt.recursive import data, models
    from .cells import tune_cells
    model = models.MODELS[args.model](hidden=args.hidden, seed=args.seed)
    batch = None  # one structure: the default batch (see search.cells.cell_workload)
    if args.structures > 1:
        batch = [data.grid(10, 10, seed=args.seed + i, vocab=model.vocab) for i in range(args.structures)] \
            if model.kind == "dag" else data.sst_like(args.structures, seed=args.seed, vocab=model.vocab)
    target = Target.parse(args.target) if args.target else None
    best = tune_cells(model, trials=args.trials, log=args.log, batch=batch, seed=args.seed, quiet=args.quiet,
                      target=target)
    if best is None:
        raise AltError(f"no candidate of {args.model}-{args.hidden} ran correctly; the log says why")
    print(f"{args.model}-{args.hidden} on {args.structures} structure(s): best {min(best['costs']) * 1e6:.1f} us with "
          f"{best['options']} on {resolve(target).describe()}")
    return 0


def _read(path):
    log = R.Log(path)
    if not log.exists():
        raise alt.OptionError(f"no log file {path!r}; write one with `alt tune WORKLOAD --log {path}`")
    return log.read()


def _best(args):
    by = {}
    for r in _read(args.log):
        by.setdefault(r["workload"]["name"], []).append(r)
    names = {w.name: w for w in suite()}
    codes = set(operator_codes())  # a user operator named in a log is not imported to count its flops
    names.update({r["workload"]["name"]: R.workload_of(r["workload"])
                  for rs in by.values() for r in rs if r["workload"]["op"] in codes})
    target = resolve(args.target)
    print(f"{'workload':10} {'records':>7} {'errors':>6} {'best GFLOP/s':>12} {'ms':>8}  point  (measured on)")
    for name, recs in sorted(by.items()):
        trials = [r for r in recs if r.get("phase") != "final"]
        good = [r for r in recs if r["error"] == R.OK]
        errs = sum(r["error"] != R.OK for r in trials)
        if not good:
            print(f"{name:10} {len(trials):7d} {errs:6d} {'-':>12} {'-':>8}")
            continue
        here = [r for r in good if R.measured_on(r, target)]
        top = R.winner(here or good)
        where = "this machine" if here else f"another target: {R.machine_of(top)}"
        g = f"{R.gflops(top, names[name].flops):12.1f}" if name in names else f"{'-':>12}"
        print(f"{name:10} {len(trials):7d} {errs:6d} {g} {min(top['costs']) * 1e3:8.3f}  {top['point']}  ({where})")
    return 0


def _show(args):
    from .tune import apply_best
    keys = [r["workload"] for r in _read(args.log) if r["workload"]["name"] == args.workload]
    if not keys:
        raise alt.WorkloadError(f"{args.log} has no record of workload {args.workload!r}; `alt best "
                                f"{args.log}` lists its workloads")
    if keys[0]["op"] not in operator_codes():  # never import a module a file names
        raise alt.WorkloadError(f"{args.workload} is the user operator {keys[0]['op']}: rebuild its best record "
                                "from Python with alt.apply_best(log, function, args)")
    k = apply_best(args.log, R.workload_of(keys[0]), target=args.target)
    if k is None:
        raise alt.WorkloadError(f"no successful record of {args.workload} in {args.log}")
    print(k.source)
    return 0


if __name__ == "__main__":
    sys.exit(main())
