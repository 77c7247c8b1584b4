"""The graph-level layout choice: every convolution's layout chosen jointly with its neighbours.

Each tuned node has candidates, one per layout its tuning measured: (input layout, output layout)
with the best latency measured under it. Choosing one per node is a PBQP (AutoTVM's graph tuner
states it so): unary costs (the node's tuned latency under the candidate) plus pairwise costs on
each producer -> consumer edge (the conversion the pair forces: the measured time of a
layout_transform kernel of that tensor, or nothing where the plan fuses it into the consumer's
padding stage or the consumer reads any layout).

We solve it exactly by dynamic programming over the nodes in graph order, the state being the
choices of the nodes that still have an unvisited consumer (the "frontier"): for ResNets and
MobileNet the frontier holds at most the block input and the current path, so the DP is exact and
takes milliseconds. A frontier past `beam` states keeps the best `beam` (then it is a beam search,
and says so). Why not a chain DP as AutoTVM's default: residual blocks make the graph a DAG, and
the frontier DP handles them without PBQP's reductions.
"""
import logging

import numpy as np

from alt.graph.opdefs import OPS

logger = logging.getLogger("alt.search")
BEAM = 20000


def conversion_kernel(shape, a, b, target=None):
    """A compiled layout_transform of a float32 tensor of logical `shape` from layout `a` to `b`
    (alt.graph.plan names), scheduled like the network's conversions, with its two tensors."""
    from alt.build import build
    from alt.graph.compile import _relayout
    from alt.ops import layout_transform, schedule_stage
    from alt.schedule import create_schedule
    from alt.tensor import placeholder
    X = placeholder(shape, name="in0")
    Y = layout_transform(X, name="out")
    s = create_schedule(Y)
    _relayout(s, X, a, shape)
    _relayout(s, Y, b, shape)
    schedule_stage(s, s[Y])
    return build(s, [X, Y], target), X, Y


class ConversionCosts:
    """Measured seconds of layout conversions, by (shape, from, to); each kernel is checked against
    the logical tensor before it is timed. `known` seeds the cache (from a network record)."""

    def __init__(self, target, known=()):
        self.target = target
        self.cache = {(tuple(k[0]), k[1], k[2]): float(k[3]) for k in known}

    def __call__(self, shape, a, b):
        key = (tuple(shape), a, b)
        if a == b:
            return 0.0
        if key not in self.cache:
            k, X, Y = conversion_kernel(shape, a, b, self.target)
            x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
            xp, yp = k.pack(X, x), k.pack(Y, np.zeros(shape, np.float32))
            k(xp, yp)
            if not np.array_equal(k.unpack(Y, yp), x):
                raise AssertionError(f"the layout conversion {a} -> {b} of {list(shape)} is wrong")
            self.cache[key] = k.benchmark(xp, yp, repeat=5, min_time=0.005).median
        return self.cache[key]

    def to_json(self):
        return [[list(k[0]), k[1], k[2], v] for k, v in sorted(self.cache.items())]


def layout_source(node):
    """The node whose chosen layout node's first input is stored in: follow simple operators (they
    keep their first input's layout) back to the producer; None for a graph input, a parameter or
    an operator that writes the default layout."""
    v = node.inputs[0]
    while v.producer is not None and OPS[v.producer.op].kind == "simple":
        v = v.producer.inputs[0]
    return v.producer


def edges(graph, chosen, fused=True):
    """{consumer name: [(producer name or None, shape of the value)]}: the layout edges between
    conv2d nodes in `chosen` (names with candidates); None stands for a value in NCHW (a graph
    input, or an operator that writes the default layout). Where conversions are `fused`, a
    consumer with padding converts in its padding stage and gets no edge."""
    out = {}
    for n in graph.nodes:
        if n.name not in chosen or n.op != "conv2d" or (fused and any(n.attrs["padding"])):
            continue
        src = layout_source(n)
        out[n.name] = [(src.name if src is not None and src.name in chosen else None, n.inputs[0].shape)]
    return out


def solve(graph, candidates, convert, beam=BEAM):
    """The layout choice of least total cost. `candidates` {node name: {(input, output) layouts:
    seconds}} (every node with a layout of its own; nodes not in it keep the defaults),
    `convert(shape, a, b)` the seconds of a conversion. Returns ({node: (input, output)}, predicted
    seconds of the tuned nodes and conversions, exact: whether no state was cut by the beam)."""
    order = [n.name for n in graph.nodes if n.name in candidates]
    index = {name: i for i, name in enumerate(order)}
    links = edges(graph, candidates)
    last = {}
    for c, ins in links.items():
        for p, _ in ins:
            if p is not None:
                last[p] = max(last.get(p, -1), index[c])

    def edge_cost(ins, mine, frontier):
        total = 0.0
        want = mine[0]
        for p, shape in ins:
            have = frontier[p][1] if p is not None else "NCHW"
            if want is not None and want != have:
                total += convert(shape, have, want)
        return total

    states = {(): (0.0, {})}
    exact = True
    for i, name in enumerate(order):
        new = {}
        for key, (cost, assign) in states.items():
            frontier = dict(key)
            for cand, seconds in candidates[name].items():
                total = cost + seconds + edge_cost(links.get(name, []), cand, frontier)
                keep = {p: c for p, c in frontier.items() if last[p] > i}
                if last.get(name, -1) > i:
                    keep[name] = cand
                k = tuple(sorted(keep.items()))
                if k not in new or total < new[k][0]:
                    new[k] = (total, dict(assign, **{name: cand}))
        if len(new) > beam:
            exact = False
            new = dict(sorted(new.items(), key=lambda kv: kv[1][0])[:beam])
        states = new
    if not exact:
        logger.warning("layout selection for %s: the frontier outgrew %d states; the choice is the best of a beam "
                       "search, not proven optimal", graph.name, beam)
    cost, assign = min(states.values(), key=lambda t: t[0])
    return assign, cost, exact


def independent(candidates):
    """ALT-WP's choice: every node's own fastest layout, conversions not weighed."""
    return {name: min(c, key=c.get) for name, c in candidates.items()}


def predicted(graph, candidates, assign, convert, fused=True):
    """Predicted seconds of an assignment: its nodes' tuned latencies plus the conversions it forces
    (conversions into padded consumers counted unless they are `fused`)."""
    links = edges(graph, candidates, fused)
    total = sum(candidates[n][assign[n]] for n in assign)
    for c, ins in links.items():
        for p, shape in ins:
            have = assign[p][1] if p is not None else "NCHW"
            want = assign[c][0]
            if want is not None and want != have:
                total += convert(shape, have, want)
    return total
