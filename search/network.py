"""search.tune_network: tune a whole network, its layouts chosen jointly with its loops (ALT §5).

    record, net = search.tune_network(alt.graph.zoo.resnet18(), trials=512, log="r18.jsonl")
    net = alt.graph.compile_network(graph, log="r18.jsonl")     # later: rebuilt, not tuned again

1. the network's distinct layout-sensitive workloads become tasks (search.tasks);
2. a task scheduler shares the trial budget among them; each round tunes one task with
   search.tune (records go to the log the moment they are measured, so a run resumes);
3. every node gets a candidate per layout its task measured; the graph-level choice
   (search.layouts) weighs each node's tuned latency under each layout against the conversions
   it forces on its neighbours;
4. the network is compiled with those layouts and the tuned points, checked against the network
   built with the default schedules, and timed; for `alt`, so is the network with the target's
   hand layouts and each node's best tuned point under them (the DP predicts from kernels timed
   alone), and the untuned hand-scheduled network the tuning started from; the fastest measured
   one is kept (or, within 2% of it, the first in that order: search.network.pick_fastest); a
   network record (the assignment, each node's point, which convolutions run as Winograd's, and
   what was measured) is appended to the log. A task's convolution may be tuned
   into a Winograd point (search.conv2d.Conv2dSpace's `winograd` knob); a 3x3 convolution left with
   its hand schedule runs as Winograd's where it can (alt.graph.compile_network's "auto").

Strategies (the ablations of ALT, at the same budget):
  alt        tasks tuned jointly over layouts and loops; layouts chosen by the graph-level DP
  wp         tasks tuned as for alt; each node keeps its own fastest layout, and layouts are not
             propagated: an explicit conversion kernel wherever neighbours disagree, none where
             they agree (ALT-WP; the record says fuse_conversions: false)
  loop-only  NHWC fixed everywhere, loops tuned (ALT-OL)
"""
import hashlib
import json
import logging
import sys
import time

import numpy as np
from tqdm import tqdm

from alt.errors import AltError, OptionError

from . import records as R
from .layouts import ConversionCosts, independent, predicted, solve
from .space import Invalid, space_for
from .tasks import TaskScheduler, extract_tasks
from .tune import TuningFailed, check_options, tune

logger = logging.getLogger("alt.search")
NETWORK_STRATEGIES = {"alt": "alt", "wp": "alt", "loop-only": "loop-only"}  # graph strategy -> task strategy
FUSE = {"alt": True, "wp": False, "loop-only": True}  # does the network fuse its layout conversions


def signature(graph):
    """A digest of the graph's structure (operators, attributes, shapes; not the weights' values)."""
    h = hashlib.sha256()
    for n in graph.nodes:
        h.update(json.dumps([n.op, sorted((k, list(v) if isinstance(v, tuple) else v) for k, v in n.attrs.items()),
                             [list(v.shape) for v in n.inputs]]).encode())
    return h.hexdigest()[:16]


class Choice:
    """A tuned schedule of one network node: a point of its workload's space, scheduled onto the
    node's kernel (its fused epilogue included) by Space.schedule_into."""

    def __init__(self, workload, point, target=None):
        self.workload, self.point = workload, dict(point)
        self.space = space_for(workload, target)
        why = self.space.check(self.point)
        if why:
            raise Invalid(f"{workload.name}: {why}")

    @property
    def layouts(self):
        return self.space.layouts(self.point)

    @property
    def winograd(self):
        """The Winograd output tile m of the point, 0 for a direct convolution."""
        tile = getattr(self.space, "winograd_tile", None)
        return tile(self.point) if tile else 0

    def schedule(self, s, anchor, end):
        return self.space.schedule_into(s, anchor, end, self.point)

    def __repr__(self):
        return f"Choice({self.workload.name}, {self.point})"


def _measured_here(log, task, target):
    return [r for r in log.read(task.workload) if R.measured_on(r, target)] if log else []


def candidates_of(tasks, log, target, strategy=None, graph=None):
    """{node name: {(input, output) layouts: (seconds, point)}}: per node, the best OK record of its
    task under each layout (records of this machine; of `strategy` if given). With the `graph`, a
    node does not get points that lay out one of its activation inputs themselves (Space.relayouts:
    a GEMM point packing B, where the node's B is not a weight)."""
    nodes = {n.name: n for n in graph.nodes} if graph is not None else {}
    out = {}
    for task in tasks:
        space = space_for(task.workload, target)
        recs = [r for r in _measured_here(log, task, target) if r["error"] == R.OK and not space.check(r["point"])
                and not (strategy and r.get("strategy") != strategy)]
        for name in task.nodes:
            node = nodes.get(name)
            best = {}
            for r in recs:
                if node is not None and any(not node.inputs[i].is_param for i in space.relayouts(r["point"])):
                    continue
                lay = space.layouts(r["point"])
                t = min(r["costs"])
                if lay not in best or t < best[lay][0]:
                    best[lay] = (t, r["point"])
            if best:
                out[name] = best
    return out


def select(graph, tasks, log, target, strategy="alt", convert=None):
    """(assignment {node: (input, output)}, points {node: point}, predicted seconds, conversions)
    from the log's records, by the graph strategy's rule."""
    convert = convert or ConversionCosts(target)
    found = candidates_of(tasks, log, target, NETWORK_STRATEGIES[strategy], graph)
    costs = {n: {lay: t for lay, (t, _) in c.items()} for n, c in found.items()}
    if strategy == "alt":
        assign, total, _ = solve(graph, costs, convert)
    else:  # wp and loop-only: each node's own best (loop-only measured one layout only)
        assign = independent(costs)
        total = predicted(graph, costs, assign, convert, fused=FUSE[strategy])
    points = {n: found[n][lay][1] for n, lay in assign.items()}
    return assign, points, total, convert


def hand_candidate(graph, tasks, log, target, convert, strategy="alt"):
    """(assignment, points, predicted seconds of the tuned nodes) of the target's hand layouts
    (alt.graph.hand_layouts: each plain convolution read and written in its register tile's
    channel blocks, each depthwise one in its producer's), each node given the best point its
    tuning measured under that layout (the hand schedules are measured first, so one is there
    unless a node's task was never tuned or its hand block is not a seed's; such a node keeps its
    hand schedule), every weight-only-layout node (dense, matmul) its best, and every other tuned
    node (grouped convolutions, convolutions whose channels are not whole vectors) its best point
    that reads and writes the layout its input is stored in (its producer's hand layout, else
    NCHW), so that it adds no conversion, else its best."""
    from alt.graph import hand_layouts
    from .layouts import layout_source
    found = candidates_of(tasks, log, target, NETWORK_STRATEGIES[strategy], graph)
    assign = {name: (lay, lay) for name, lay in hand_layouts(graph, target).items()}
    chosen = {n: assign.get(n, (None, None)) for n in found if assign.get(n, (None, None)) in found[n]}
    nodes = {n.name: n for n in graph.nodes}
    for n, c in found.items():
        if n in chosen or n in assign:
            continue
        src = layout_source(nodes[n]) if nodes[n].inputs else None
        want = assign[src.name][1] if src is not None and src.name in assign else "NCHW"
        fits = [lay for lay in c if lay[1] == want and lay[0] in (None, want)] or list(c)
        chosen[n] = min(fits, key=lambda lay: c[lay][0])
        if chosen[n][1] is not None:
            assign[n] = chosen[n]
    points = {n: found[n][lay][1] for n, lay in chosen.items()}
    costs = {n: {lay: found[n][lay][0]} for n, lay in chosen.items()}
    return assign, points, predicted(graph, costs, chosen, convert)


def tune_network(graph, trials=None, strategy="alt", log=None, seed=0, batch=8, model="gbt", quiet=False,
                 measure_options=None, target=None, check=True):
    """Tune `graph` (an alt.graph.Graph) under one budget of `trials` measurements (default 32 per
    task) with graph strategy `strategy` (alt, wp, loop-only; see the module's doc), logging to
    `log` (a path; an existing log resumes). Returns (network record, compiled Network).

    The compiled network is checked against the same graph built with the default schedules
    (`check`) and timed; both go into the record."""
    from alt.target import resolve
    from .measure import check_runs_here
    if strategy not in NETWORK_STRATEGIES:
        raise OptionError(f"search.tune_network: strategy={strategy!r} is not a network strategy; use one of "
                          f"{list(NETWORK_STRATEGIES)}")
    tasks = extract_tasks(graph)
    if not tasks:
        raise OptionError(f"search.tune_network: graph {graph.name!r} has no layout-sensitive operator to tune")
    trials = 32 * len(tasks) if trials is None else trials
    check_options(trials, NETWORK_STRATEGIES[strategy], model, batch, seed, measure_options)
    if trials < len(tasks):
        raise OptionError(f"search.tune_network: trials={trials} is fewer than the {len(tasks)} tasks of "
                          f"{graph.name!r} ({', '.join(t.workload.name for t in tasks[:3])}...); give trials >= "
                          f"{len(tasks)}, one per task at least")
    target = check_runs_here(resolve(target))
    with target:
        return _tune_network(graph, tasks, trials, strategy, log, seed, batch, model, quiet, measure_options,
                             target, check)


def _tune_network(graph, tasks, trials, strategy, log, seed, batch, model, quiet, measure_options, target, check):
    records = R.Log.for_writing(log, "search.tune_network")
    task_strategy = NETWORK_STRATEGIES[strategy]
    done, best = [], []
    for t in tasks:  # a point of an older template (a knob it lacks) is no trial of today's (search.tune)
        space = space_for(t.workload, target)
        mine = [r for r in _measured_here(records, t, target) if r.get("strategy") == task_strategy
                and space.check(r["point"]) is None]
        done.append(sum(r["error"] != R.DISTURBED and r.get("phase") != "final" for r in mine))
        best.append(min((min(r["costs"]) for r in mine if r["error"] == R.OK), default=float("inf")))
    rng = np.random.default_rng(seed)
    sched = TaskScheduler(tasks, trials, batch, rng, done=done, best=best)
    resumed = min(sched.spent, trials)  # trials the log already held: not measured by this run
    started = time.perf_counter()
    bar = tqdm(total=trials, initial=resumed, desc=f"{graph.name} ({strategy})", unit="trial",
               disable=quiet, dynamic_ncols=True, file=sys.stderr)
    say = bar.write if not quiet else (lambda text: None)
    if sched.spent:
        say(f"{graph.name}: resumed from {log}: {sched.spent} trials of {len(tasks)} tasks already measured")
    say(f"{graph.name}: {len(tasks)} tasks, {trials} trials, strategy {strategy}, on {target.describe()}")
    exhausted, failed = set(), set()
    stats = {"tune": 0.0, "select": 0.0, "compile": 0.0, "check+time": 0.0}
    try:
        while True:
            step = sched.next()
            if step is None:
                break
            i, goal = step
            task = tasks[i]
            if i in exhausted:
                sched.update(i, goal, sched.best[i])
                continue
            new = []

            def on_record(rec):
                new.append(rec)
                bar.update(1)

            t0 = time.perf_counter()
            where = {}
            try:
                rec, _ = tune(task.workload, trials=goal, strategy=task_strategy, log=log, seed=seed + i, batch=batch,
                              model=model, quiet=True, measure_options=measure_options, target=target, final=0,
                              build=False, on_record=on_record, stats=where)
                seconds = min(rec["costs"])
            except TuningFailed:
                failed.add(i)
                seconds = float("inf")
            stats["tune"] += time.perf_counter() - t0
            for k in ("propose", "fit", "build", "run"):
                stats[k] = stats.get(k, 0.0) + where.get(k, 0.0)
            if len(new) < goal - sched.trials[i]:
                exhausted.add(i)  # the space has no unmeasured point left
                bar.update(goal - sched.trials[i] - len(new))
            sched.update(i, goal, seconds)
            say(f"  task {i + 1}/{len(tasks)} {task.workload.name} (x{task.weight}): {sched.trials[i]} trials, best "
                f"{sched.best[i] * 1e3:.3f} ms; network {sched.spent}/{trials} trials")
    finally:
        bar.close()
    if failed:
        logger.warning("%s: no candidate of %s built and ran; those nodes keep the default schedules", graph.name,
                       ", ".join(tasks[i].workload.name for i in sorted(failed)))
    elapsed_tune = time.perf_counter() - started
    t0 = time.perf_counter()
    assign, points, total, convert = select(graph, tasks, records, target, strategy)
    stats["select"] = time.perf_counter() - t0
    extra = dict(trials=sched.spent, resumed_trials=resumed, tuning_seconds=elapsed_tune)
    recs = {"graph DP": _network_record(graph, tasks, strategy, assign, points, total, convert, target, **extra)}
    if strategy == "alt":  # the DP predicts from isolated kernels; the built networks decide
        h_assign, h_points, h_total = hand_candidate(graph, tasks, records, target, convert, strategy)
        recs["hand layouts"] = _network_record(graph, tasks, strategy, h_assign, h_points, h_total, convert,
                                               target, **extra)
        # and the untuned network the tuning started from: a tuned network never loses to it
        hand = {n: (lay, lay) for n, lay in hand_layouts(graph, target).items()}
        recs["hand schedules"] = _network_record(graph, tasks, strategy, hand, {}, None, convert, target, hand=True,
                                                 **extra)
    t0 = time.perf_counter()
    nets = {}
    for k, r in recs.items():  # untuned 3x3 convolutions as Winograd's where they can; the record says which
        nets[k] = build_record(graph, r, target, winograd="auto")
        r["winograd"] = nets[k].winograd
    # a resumed run also times the build its log rebuilds now (this strategy's latest record), side by
    # side with the new ones: the record it writes is the fastest of them, and compile_network(log)
    # rebuilds the network this call returns
    earlier = [r for r in records.read_networks(signature(graph)) if r.get("strategy") == strategy
               and R.measured_on(r, target)] if records else []
    if earlier:
        latest = max(earlier, key=lambda r: r["time"])
        try:  # a record of an older version whose build fails is left out of the race
            nets["earlier build"] = build_record(graph, latest, target)
            recs["earlier build"] = latest
        except AltError as e:
            logger.warning("%s: the network of its latest record does not build (%s); it is not timed", graph.name, e)
    stats["compile"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    if check:
        for net in nets.values():
            verify(graph, net, target)
    x = [np.random.default_rng(0).standard_normal(v.shape).astype(np.float32) for v in graph.inputs]
    won, seen = pick_fastest({k: (lambda net=net: net.time(*x)) for k, net in nets.items()})
    rec, net = recs[won], nets[won]
    if won == "earlier build":  # kept: written again as this run's record, with this run's figures
        rec = {**rec, **extra, "time": time.time()}
    rec["latency_s"] = min(seen[won])
    rec["selection"] = {"chosen": won, "measured_s": {k: min(v) for k, v in seen.items()},
                        "rounds": len(next(iter(seen.values())))}
    stats["check+time"] = time.perf_counter() - t0
    rec["stats"] = stats
    if len(nets) > 1:
        say(f"{graph.name}: " + ", ".join(f"{k} {min(v) * 1e3:.3f} ms" for k, v in seen.items()) + f"; kept {won}")
    if records:
        records.append(rec)
    return rec, net


TIE = 0.02  # candidates whose fastest rounds are this close are a tie: the first in preference order wins
MAX_ROUNDS = 9


def pick_fastest(timers, rounds=3, tie=TIE, max_rounds=MAX_ROUNDS):
    """The key of the fastest of `timers` ({name: () -> seconds}, in order of preference), timed side by
    side in rounds, and every timing {name: [seconds]}. Each is judged by its fastest round. While the
    runner-up is within `tie` of the winner, two more rounds are taken (up to `max_rounds`), and a tie
    that stays goes to the earliest candidate within `tie` of the fastest: on a noisy machine the
    choice between networks a percent apart is then repeatable instead of a coin flip."""
    seen = {k: [] for k in timers}
    todo = rounds if len(timers) > 1 else 1
    while todo:
        for _ in range(todo):
            for k, take in timers.items():
                seen[k].append(take())
        best = sorted(min(v) for v in seen.values())
        close = len(best) > 1 and best[1] <= best[0] * (1 + tie)
        todo = min(2, max_rounds - len(next(iter(seen.values())))) if close else 0
    fastest = min(min(v) for v in seen.values())
    return next(k for k, v in seen.items() if min(v) <= fastest * (1 + tie)), seen


def hand_layouts(graph, target):
    from alt.graph import hand_layouts as layouts
    return layouts(graph, target)


def _network_record(graph, tasks, strategy, assign, points, total, convert, target, **extra):
    by_node = {n: t.workload for t in tasks for n in t.nodes}
    choices = {n: {"workload": R.workload_key(by_node[n]), "point": p} for n, p in points.items()}
    layouts = {n: list(lay) for n, lay in assign.items() if lay[1] is not None}
    return R.make_network(graph.name, signature(graph), strategy, choices, layouts, target,
                          predicted_s=total, conversions=convert.to_json(), fuse_conversions=FUSE[strategy],
                          winograd={},
                          untuned=sorted(n for t in tasks for n in t.nodes if n not in points and n not in layouts),
                          **extra)


def build_record(graph, rec, target=None, fuse_conversions=None, winograd=None):
    """The network of record `rec`, its conversions fused as the record says (or as given), its
    Winograd convolutions the record's (none in a record written before they existed; or as given,
    see compile_network)."""
    from alt.graph import compile_network
    layouts, schedules, fallbacks, fuse, wino = _replay(graph, rec, target)
    net = compile_network(graph, layouts, target, schedules=schedules, winograd=wino if winograd is None else winograd,
                          fuse_conversions=fuse if fuse_conversions is None else fuse_conversions)
    net.fallbacks = fallbacks
    return net


def _replay(graph, rec, target):
    """(layouts, schedules, fallback node names, fuse_conversions, winograd) of a network record on
    `graph`."""
    layouts, schedules, fallbacks = {}, {}, []
    names = {n.name: n for n in graph.nodes}
    for t in extract_tasks(graph):
        for name in t.nodes:
            c = rec["choices"].get(name)
            if c is None and names[name].op == "conv2d" and rec["layouts"].get(name):
                layouts[name] = tuple(rec["layouts"][name])  # its layout, with the hand schedule
                continue
            if c is None and rec.get("hand"):  # the untuned network: hand schedules by choice
                continue
            if c is None or c["workload"] != R.workload_key(t.workload):
                fallbacks.append(name)
                continue
            try:
                choice = Choice(R.workload_of(c["workload"]), c["point"], target)
            except (Invalid, AltError) as e:
                logger.warning("%s: node %s's tuned point does not apply (%s); it keeps the default schedule",
                               rec["network"], name, e)
                fallbacks.append(name)
                continue
            schedules[name] = choice
            if names[name].op == "conv2d":
                layouts[name] = tuple(rec["layouts"].get(name) or choice.layouts)
    return layouts, schedules, fallbacks, bool(rec.get("fuse_conversions", True)), rec.get("winograd") or False


def current_network(nets):
    """The network record a log stands for among `nets` (records of one graph): each strategy's
    latest (a resumed tune_network timed the build before it side by side with its own and wrote
    the faster again, so the latest supersedes its strategy's earlier records), then the fastest of
    those (the latest where none was timed)."""
    latest = {}
    for r in nets:
        k = r.get("strategy")
        if k not in latest or r["time"] >= latest[k]["time"]:
            latest[k] = r
    return min(latest.values(), key=lambda r: (r.get("latency_s") or float("inf"), -r["time"]))


def from_log(graph, log, target=None):
    """(layouts, schedules, fallbacks, fuse_conversions, winograd) to compile `graph` as tuned in `log`:
    the record `current_network` picks among its network records for this graph measured on this
    machine (else among those from elsewhere, with a warning); with no network record, the layouts
    are chosen now (alt's rule) from the operator records in the log. Nodes the log does not cover
    keep the defaults; a warning names them."""
    from alt.target import resolve
    target = resolve(target)
    log = R.Log(log)
    if not log.exists():
        raise OptionError(f"compile_network: no tuning log {log.path!r}; write one with search.tune_network or "
                          "`alt tune-net`")
    nets = log.read_networks(signature(graph))
    here = [r for r in nets if R.measured_on(r, target)]
    if here or nets:
        rec = current_network(here or nets)
        if not here:
            logger.warning("%s: the network record of %s was made on %s, not on this machine", log.path, graph.name,
                           R.machine_of(rec))
    else:
        tasks = extract_tasks(graph)
        assign, points, total, convert = select(graph, tasks, log, target, "alt")
        rec = _network_record(graph, tasks, "alt", assign, points, total, convert, target)
        rec["winograd"] = "auto"  # tuned points as measured, untuned 3x3 layers as tune_network builds them
    layouts, schedules, fallbacks, fuse, winograd = _replay(graph, rec, target)
    if fallbacks:
        logger.warning("%s: %d nodes of %s are not covered by the log and keep the default schedules: %s", log.path,
                       len(fallbacks), graph.name, ", ".join(fallbacks))
    return layouts, schedules, fallbacks, fuse, winograd


def verify(graph, net, target=None, rtol=1e-4):
    """Raise if `net` (a tuned build of `graph`) differs from `graph` built with the default
    schedules, on a seeded random input, by more than rtol of the largest magnitude."""
    from alt.graph import compile_network
    x = [np.random.default_rng(1).standard_normal(v.shape).astype(np.float32) for v in graph.inputs]
    want = compile_network(graph, target=target)(*x)
    got = net(*x)
    for g, w in zip(*(([a] if isinstance(a, np.ndarray) else a) for a in (got, want))):
        err = float(np.max(np.abs(g - w)) / max(1e-30, float(np.max(np.abs(w)))))
        if not err <= rtol:
            raise TuningFailed(f"the tuned {graph.name} differs from its default build: relative error {err:.2e}")
