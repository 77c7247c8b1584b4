"""The `alt` command line: tune a workload, list the best records of a log, show a best kernel.

    alt tune C2D-1 --trials 64 --strategy alt --log run.jsonl
    alt tune C2D --shape 1,64,56,64,3,1,1 --trials 64
    alt tune mypackage.ops:my_operator --shape 256,512 --trials 64
    alt best run.jsonl
    alt show run.jsonl --workload C2D-1
"""
import argparse
import logging
import sys

from alt.ops import Workload, suite
from alt.ops.suite import operator_codes

from . import records as R
from .strategy import STRATEGIES


def main(argv=None):
    p = argparse.ArgumentParser(prog="alt", description="alt: joint layout and loop tuning")
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("tune", help="tune one suite workload (e.g. C2D-1, R50-3, GMM-0), or an operator "
                                    "code or a user operator 'package.module:function' with --shape")
    t.add_argument("workload")
    t.add_argument("--shape", help="operator parameters, e.g. 1,64,56,64,3,1,1 for C2D (n, c, size, o, k, "
                                   "stride, pad) or 512,512,512 for GMM (m, n, k)")
    t.add_argument("--trials", type=int, default=64)
    t.add_argument("--strategy", choices=sorted(STRATEGIES), default="alt")
    t.add_argument("--model", choices=["gbt", "random"], default="gbt")
    t.add_argument("--log", help="JSON-lines record file (appended; resumes if it exists)")
    t.add_argument("--batch", type=int, default=8)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--quiet", action="store_true")
    b = sub.add_parser("best", help="the best record of every workload in a log")
    b.add_argument("log")
    s = sub.add_parser("show", help="the C source of the best record of a workload")
    s.add_argument("log")
    s.add_argument("--workload", required=True)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    if args.cmd == "tune":
        from .tune import find_workload, tune
        w = find_workload(args.workload, tuple(int(x) for x in args.shape.split(",")) if args.shape else None)
        rec, kernel = tune(w, trials=args.trials, strategy=args.strategy, log=args.log, seed=args.seed,
                           batch=args.batch, model=args.model, quiet=args.quiet)
        print(f"{w.name}: best {R.gflops(rec, w.flops):.1f} GFLOP/s ({min(rec['costs']) * 1e3:.3f} ms) "
              f"with {rec['point']}")
    elif args.cmd == "best":
        by = {}
        for r in R.Log(args.log).read():
            by.setdefault(r["workload"]["name"], []).append(r)
        names = {w.name: w for w in suite()}
        codes = set(operator_codes())  # a user operator named in a log is not imported to count its flops
        names.update({r["workload"]["name"]: Workload(r["workload"]["op"], r["workload"]["name"],
                                                      tuple(r["workload"]["params"]))
                      for rs in by.values() for r in rs if r["workload"]["op"] in codes})
        print(f"{'workload':10} {'records':>7} {'errors':>6} {'best GFLOP/s':>12} {'ms':>8}  point")
        for name, recs in sorted(by.items()):
            good = [r for r in recs if r["error"] == R.OK]
            errs = len(recs) - len(good)
            if not good:
                print(f"{name:10} {len(recs):7d} {errs:6d} {'-':>12} {'-':>8}")
                continue
            top = min(good, key=lambda r: min(r["costs"]))
            g = f"{R.gflops(top, names[name].flops):12.1f}" if name in names else f"{'-':>12}"
            print(f"{name:10} {len(recs):7d} {errs:6d} {g} {min(top['costs']) * 1e3:8.3f}  {top['point']}")
    else:
        from .tune import apply_best
        keys = [r["workload"] for r in R.Log(args.log).read() if r["workload"]["name"] == args.workload]
        if keys and keys[0]["op"] not in operator_codes():  # never import a module a file names
            print(f"{args.workload} is the user operator {keys[0]['op']}: rebuild its best record from Python "
                  "with alt.apply_best(log, function, args)", file=sys.stderr)
            return 1
        w = Workload(keys[0]["op"], keys[0]["name"], tuple(keys[0]["params"])) if keys else args.workload
        k = apply_best(args.log, w) if keys else None
        if k is None:
            print(f"no successful record of {args.workload} in {args.log}", file=sys.stderr)
            return 1
        print(k.source)
    return 0


if __name__ == "__main__":
    sys.exit(main())
