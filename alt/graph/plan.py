"""Layout planning for a network, as ALT describes it.

Only layout-sensitive operators (convolutions) carry a chosen layout (NCHW, NHWC, channel blocks
NCHW<b>c, or ALT's spatial tiles NCHW<h>h<w>w<b>c of channel blocks); simple operators inherit
their input's layout along the dataflow. Where a value reaches a convolution that wants another
layout, a conversion is placed: fused into the consumer when it is padded (its padding stage reads
one layout and writes the other), fused into the producer when that is a simple operator whose
only readers want the new layout (it then writes that layout), and otherwise an explicit
layout_transform kernel. Elementwise readers (a residual add) read any layout directly through
the access maps, so they need no conversion. Elementwise chains are then fused into their
producer's kernel as epilogues.

With `fuse_conversions=False` (ALT-WP: layouts not propagated), every place where a value's layout
differs from what its reader wants gets an explicit layout_transform kernel, elementwise readers
included; only conversions between neighbours that agree disappear.
"""
import re

from ..errors import ComputeError
from .ir import Value, output_error
from .opdefs import OPS

LAYOUTS = ("NCHW", "NHWC", "NCHW<b>c (b channels a block, e.g. NCHW16c)",
           "NCHW<h>h[<w>w]<b>c (spatial tiles of h rows [and w columns] of b-channel blocks, e.g. NCHW2h7w16c)")
_BLOCKED = re.compile(r"NCHW(?:([1-9]\d*)h)?(?:([1-9]\d*)w)?([1-9]\d*)c")


def blocked_parts(name):
    """(rows, columns, channels) of a tile of blocked layout `name` (rows and columns 1 where it has
    no spatial tile), or None for a layout that is not blocked."""
    m = _BLOCKED.fullmatch(str(name))
    if not m:
        return None
    ht, wt, b = (int(g) if g else 1 for g in m.groups())
    return ht, wt, b


def is_layout(name):
    return name in ("NCHW", "NHWC") or blocked_parts(name) is not None


def tiled_name(ht, wt, block, height, width):
    """The canonical name of output tiles of ht x wt positions and `block` channels in a feature map
    of height x width: a tile that spans whole rows (wt 1 or the width) is the same memory as one
    of ht rows, and one of a single row the same as NCHW<b>c."""
    rows = f"{ht}h" if 1 < ht else ""
    cols = f"{wt}w" if rows and 1 < wt < width else ""
    return f"NCHW{rows}{cols}{block}c"


def layout_error(name, shape):
    """Why layout `name` cannot hold a logical NCHW tensor of `shape`, or None."""
    parts = blocked_parts(name)
    if name in (None, "NCHW", "NHWC") or parts is None or len(shape) != 4:
        return None if is_layout(name) or name is None else f"layout {name!r} is not one of {LAYOUTS}"
    ht, wt, _ = parts
    if ht == 1 and wt > 1:
        return f"layout {name!r} tiles columns without rows; that is NCHW<b>c's memory, write it so"
    for what, t, e in (("rows", ht, shape[2]), ("columns", wt, shape[3])):
        if e % t:
            return f"layout {name!r} tiles {what} by {t}, which does not divide the {e} {what} of {list(shape)}"
    if name != tiled_name(ht, wt, parts[2], shape[2], shape[3]):
        return (f"layout {name!r} of {list(shape)} is the same memory as "
                f"{tiled_name(ht, wt, parts[2], shape[2], shape[3])!r}; use that name")
    return None


def layout_steps(name, shape):
    """The alt.layout steps that lay a logical NCHW tensor of `shape` out as `name`."""
    if name in (None, "NCHW") or len(shape) != 4:
        return []
    if name == "NHWC":
        return [("reorder", 0, 2, 3, 1)]
    why = layout_error(name, shape)
    if why:
        raise ComputeError(why)
    ht, wt, block = blocked_parts(name)
    pad = -shape[1] % block
    steps = ([("pad", 1, 0, pad)] if pad else []) + [("split", 1, block)]  # N C/b b H W
    if ht == 1:
        return steps + [("reorder", 0, 1, 3, 4, 2)]
    steps.append(("split", 3, ht))  # N C/b b H/ht ht W
    if wt == 1:
        return steps + [("reorder", 0, 1, 3, 5, 4, 2)]
    return steps + [("split", 5, wt), ("reorder", 0, 1, 3, 5, 4, 6, 2)]  # N C/b H/ht W/wt ht wt b


def lay_out(view, name, shape):
    """Apply layout_steps(name, shape) to `view` (a Schedule.layout view of a logical NCHW tensor
    of `shape`) and return it."""
    for verb, *args in layout_steps(name, shape):
        getattr(view, verb)(*args)
    return view


def _io_layouts(n, choice):
    """(input layout wanted or None for any, output layout) of conv2d node `n` assigned `choice`: a
    layout name (read and written in it) or a pair (input layout or None, output layout)."""
    want, lay = (choice, choice) if isinstance(choice, str) else tuple(choice) if isinstance(choice, (tuple, list)) \
        and len(choice) == 2 else (None, choice)
    for what, name, v in (("input", want, n.inputs[0]), ("output", lay, n.output)):
        if (name is not None or what == "output") and not is_layout(name):
            raise ComputeError(f"node {n.name!r}: {what} layout {name!r} is not one of {LAYOUTS}")
        why = layout_error(name, v.shape) if name is not None else None
        if why:
            raise ComputeError(f"node {n.name!r}: {what} {why}")
    parts = blocked_parts(lay)
    if parts and n.output.shape[1] % parts[2]:
        raise ComputeError(f"node {n.name!r}: layout {lay} needs output channels divisible by "
                           f"{parts[2]}, but it has {n.output.shape[1]}")
    return want, lay


class Group:
    """One kernel of the compiled network: an anchor node and its fused elementwise epilogue, or a
    layout conversion (anchor None, `convert` = (value, from layout, to layout))."""

    def __init__(self, anchor, epilogue=(), convert=None, target=None):
        self.anchor, self.epilogue, self.convert, self.target = anchor, list(epilogue), convert, target

    @property
    def nodes(self):
        return ([self.anchor] if self.anchor else []) + self.epilogue

    @property
    def output(self):
        if self.convert:
            return self.target
        return self.epilogue[-1].output if self.epilogue else self.anchor.output

    def __repr__(self):
        if self.convert:
            v, a, b = self.convert
            return f"layout_transform({v.name}: {a} -> {b})"
        return f"{self.anchor.name}: " + " + ".join(n.op for n in self.nodes)


class Plan:
    """Layouts of every value, the conversions placed, and the kernels in order."""

    def __init__(self, graph, assignment, fuse_conversions=True):
        """`assignment`: {conv2d node name: layout name, or (input layout or None, output layout)}:
        the layout a convolution writes, and the one it wants its input in (None: any, for an
        operator that reads through the access maps). `fuse_conversions`: fuse conversions into
        padding stages, producers and elementwise readers (else explicit kernels, ALT-WP)."""
        if not isinstance(fuse_conversions, bool):
            raise ComputeError(f"Plan of {graph.name!r}: fuse_conversions={fuse_conversions!r} is not True or False")
        self.graph = graph
        self.assignment = dict(assignment)
        self.fuse_conversions = fuse_conversions
        self.layout = {}  # id(value) -> layout name of its stored form
        self.converted = {}  # (id(value), layout) -> Value holding the converted copy
        self.fused_conversions = []  # (value, from, to, where)
        self.groups = []
        self.reads = {}  # (id(node), input index) -> the Value the node actually reads
        # the values the network writes (converted where needed), each once: a value returned twice is
        # one array, returned twice (Network.__call__)
        self.outputs = list({id(v): v for v in graph.outputs}.values())
        _plan(self)

    def value_layout(self, v):
        return "NCHW" if v.is_param else self.layout.get(id(v), "NCHW")

    def __str__(self):
        lines = [f"network {self.graph.name}: {len(self.groups)} kernels"]
        for i, g in enumerate(self.groups):
            if g.convert:
                v, a, b = g.convert
                lines.append(f"  k{i:<3} layout_transform {v.name}: {a} -> {b}")
                continue
            a = g.anchor
            ins = [self.reads.get((id(a), j), v) for j, v in enumerate(a.inputs)]
            args = ", ".join(f"{v.name}" + ("" if v.is_param else f"[{self.value_layout(v)}]") for v in ins)
            epi = "".join(f" + {n.op}" for n in g.epilogue)
            lines.append(f"  k{i:<3} {a.op} {a.name}({args}){epi} -> {g.output.name}"
                         f"[{self.value_layout(g.output)}]")
        for v, a, b, where in self.fused_conversions:
            lines.append(f"  conversion of {v.name} {a} -> {b} fused into {where}")
        return "\n".join(lines)


def _plan(plan):
    g = plan.graph
    if not g.outputs:
        raise ComputeError(f"graph {g.name!r} has no outputs; mark what it returns with graph.output(value, ...)")
    for v in g.outputs:  # checked again here: the list may have been set without output()
        why = output_error(g, v)
        if why:
            raise ComputeError(why)
    consumers = g.consumers()
    for name in plan.assignment:
        if not any(n.name == name for n in g.nodes):
            raise ComputeError(f"layout assignment names node {name!r}, which is not in graph {g.name!r}")
    for v in g.inputs:
        plan.layout[id(v)] = "NCHW"
    # 1. layouts along the dataflow, and what each consumer wants of its inputs
    wants = []  # (node, input index, layout): inputs a convolution's schedule needs in its layout
    for n in g.nodes:
        d = OPS[n.op]
        x = n.inputs[0]
        if n.op == "conv2d":
            want, lay = _io_layouts(n, plan.assignment.get(n.name, "NCHW"))
            plan.layout[id(n.output)] = lay
            if want is not None:
                wants.append((n, 0, want))
        elif n.name in plan.assignment:
            raise ComputeError(f"node {n.name!r} ({n.op}) has no layout of its own; only conv2d nodes do")
        elif d.kind == "simple" and n.output.ndim == 4:
            lay = plan.value_layout(x)
            plan.layout[id(n.output)] = lay
            for j, v in enumerate(n.inputs[1:], 1):  # an elementwise reader takes any layout through the
                if not v.is_param and v.ndim == 4 and plan.value_layout(v) != lay:  # access maps
                    if plan.fuse_conversions:
                        plan.fused_conversions.append((v, plan.value_layout(v), lay, f"its reader {n.name}"))
                    else:
                        wants.append((n, j, lay))
        else:
            plan.layout[id(n.output)] = "NCHW"
    for v in plan.outputs:
        wants.append((None, v, "NCHW"))
    # 2. conversions
    for node, i, lay in wants:
        v = i if node is None else node.inputs[i]
        have = plan.value_layout(v)
        if have == lay:
            continue
        p = v.producer
        readers = consumers.get(id(v), [])
        others_ok = all(any(w[0] is r and w[2] == lay for w in wants) for r in readers)
        fuse = plan.fuse_conversions
        if fuse and node is not None and node.op == "conv2d" and any(node.attrs["padding"]):
            plan.fused_conversions.append((v, have, lay, f"the padding of {node.name}"))
        elif fuse and p is not None and OPS[p.op].kind == "simple" and others_ok and \
                not any(v is o for o in plan.outputs):
            plan.layout[id(v)] = lay  # the producer writes the wanted layout directly
            plan.fused_conversions.append((v, have, lay, f"its producer {p.name}"))
        else:
            key = (id(v), lay)
            if key not in plan.converted:
                c = Value(g, v.shape, f"{v.name}.{lay}")
                plan.converted[key] = c
                plan.layout[id(c)] = lay
                plan.groups.append(Group(None, convert=(v, have, lay), target=c))
            if node is not None:
                plan.reads[(id(node), i)] = plan.converted[key]
            else:
                plan.outputs[plan.outputs.index(v)] = plan.converted[key]
    # 3. kernels: anchors with their elementwise epilogues, plus the conversions, in an order that
    #    produces every value before it is read
    conversions = plan.groups
    sources = {id(c.convert[0]) for c in conversions}
    outputs = {id(v) for v in plan.outputs}
    kernels, fused = [], set()
    for n in g.nodes:
        if id(n) in fused:
            continue
        group = Group(n)
        out = n.output
        while id(out) not in outputs and id(out) not in sources and len(consumers.get(id(out), [])) == 1:
            nxt = consumers[id(out)][0]
            if not OPS[nxt.op].elementwise or nxt.inputs[0] is not out or (id(nxt), 0) in plan.reads \
                    or plan.value_layout(nxt.output) != plan.value_layout(out):
                break
            group.epilogue.append(nxt)
            fused.add(id(nxt))
            out = nxt.output
        kernels.append(group)
    plan.groups = _topo_groups(plan, kernels + conversions)


def _topo_groups(plan, groups):
    """Kernels in an order where every value is produced before it is read, keeping graph order
    where there is a choice (a fused epilogue may read a value its anchor's successors produce)."""
    made = {}
    for i, gr in enumerate(groups):
        made[id(gr.output)] = i
    deps = []
    for gr in groups:
        ins = [gr.convert[0]] if gr.convert else [plan.reads.get((id(n), j), v) for n in gr.nodes
                                                   for j, v in enumerate(n.inputs)]
        inner = {id(n.output) for n in gr.nodes}
        deps.append({made[id(v)] for v in ins if id(v) in made and id(v) not in inner})
    order, done = [], set()
    while len(order) < len(groups):
        i = next(i for i in range(len(groups)) if i not in done and deps[i] <= done)
        order.append(groups[i])
        done.add(i)
    return order
