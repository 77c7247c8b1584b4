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
from alt.timing import undisturbed

logger = logging.getLogger("alt.search")
BEAM = 20000


def conversion_kernel(shape, a, b, target=None):
    """A compiled layout_transform of a float32 tensor of logical `shape` from layout `a` to `b`
    (alt.graph.plan names), scheduled like the network's conversions, with its two tensors."""
    from alt.build import build
    from alt.graph.plan import lay_out
    from alt.ops import layout_transform, schedule_stage
    from alt.schedule import create_schedule
    from alt.tensor import placeholder
    X = placeholder(shape, name="in0")
    Y = layout_transform(X, name="out")
    s = create_schedule(Y)
    lay_out(s.layout(X), a, shape)
    lay_out(s.layout(Y), b, shape)
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
            self.cache[key] = undisturbed(lambda: k.benchmark(xp, yp, repeat=5, min_time=0.005)).median
        return self.cache[key]

    def to_json(self):
        return [[list(k[0]), k[1], k[2], v] for k, v in sorted(self.cache.items())]


def layout_source(node, i=0):
    """The node whose chosen layout node's input `i` is stored in: follow simple operators (they
    keep their first input's layout) back to the producer; None for a graph input, a parameter or
    an operator that writes the default layout."""
    v = node.inputs[i]
    while v.producer is not None and OPS[v.producer.op].kind == "simple":
        v = v.producer.inputs[0]
    return v.producer


def edges(graph, chosen, fused=True):
    """[(a, b, want, shape)]: the layout edges between nodes in `chosen` (names with candidates),
    each costing a conversion of a value of `shape` from a's output layout to b's input layout
    (want "in") or to b's output layout (want "out"). a is None for a value in NCHW (a graph input,
    or an operator that writes the default layout).
    - a convolution reads its input in its own input layout: (source of the input, conv, "in");
      where conversions are `fused`, a consumer with padding converts in its padding stage and gets
      no edge;
    - an elementwise operator with a second 4-d operand (a residual add) runs in its first operand's
      layout and reads the second converted to it: (source of the second, source of the first,
      "out"). Fused into the reader, that conversion is a gather in the add's loop, counted at the
      measured cost of a conversion kernel (an upper bound)."""
    out = []

    def name(src):
        return src.name if src is not None and src.name in chosen else None
    for n in graph.nodes:
        d = OPS[n.op]
        if n.op == "conv2d" and n.name in chosen and not (fused and any(n.attrs["padding"])):
            out.append((name(layout_source(n)), n.name, "in", n.inputs[0].shape))
        elif d.kind == "simple" and n.output.ndim == 4:
            first = name(layout_source(n))
            for j, v in enumerate(n.inputs[1:], 1):
                other = name(layout_source(n, j)) if not v.is_param and v.ndim == 4 else False
                if other is not False and (first, other) != (None, None) and first != other:
                    out.append((other, first, "out", v.shape))
    return out


def _edge_cost(edge, layout_of, convert):
    a, b, side, shape = edge
    have = layout_of(a, "out") or "NCHW"  # an output of no layout of its own is in the default
    want = layout_of(b, side) if side == "in" else layout_of(b, side) or "NCHW"  # an input of None reads any
    return convert(shape, have, want) if want is not None and want != have else 0.0


def solve(graph, candidates, convert, beam=BEAM):
    """The layout choice of least total cost. `candidates` {node name: {(input, output) layouts:
    seconds}} (every node with a layout of its own; nodes not in it keep the defaults),
    `convert(shape, a, b)` the seconds of a conversion. Returns ({node: (input, output)}, predicted
    seconds of the tuned nodes and conversions, exact: whether no state was cut by the beam)."""
    order = [n.name for n in graph.nodes if n.name in candidates]
    index = {name: i for i, name in enumerate(order)}
    charged = {}  # each edge is charged at its later endpoint; the earlier one stays in the frontier until then
    last = {}
    for e in edges(graph, candidates):
        ends = [x for x in e[:2] if x is not None]
        at = max(ends, key=index.get)
        charged.setdefault(at, []).append(e)
        for x in ends:
            last[x] = max(last.get(x, -1), index[at])

    states = {(): (0.0, {})}
    exact = True
    for i, name in enumerate(order):
        new = {}
        for key, (cost, assign) in states.items():
            frontier = dict(key)
            for cand, seconds in candidates[name].items():
                frontier[name] = cand

                def layout_of(x, side):
                    if x is None:
                        return "NCHW"
                    return frontier[x][0 if side == "in" else 1]
                total = cost + seconds + sum(_edge_cost(e, layout_of, convert) for e in charged.get(name, ()))
                keep = {p: c for p, c in frontier.items() if last.get(p, -1) > i}
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
    def layout_of(x, side):
        return "NCHW" if x is None else assign[x][0 if side == "in" else 1]
    total = sum(candidates[n][assign[n]] for n in assign)
    return total + sum(_edge_cost(e, layout_of, convert) for e in edges(graph, candidates, fused))
