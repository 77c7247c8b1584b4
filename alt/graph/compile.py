"""Whole-network compilation: every kernel of a layout plan in one shared library, with a generated
driver that calls them in order, so that a forward pass is one call from Python.

Weights are converted to the layouts their kernels want once, at build time. Intermediate values
and kernel temporaries live in one workspace, allocated once; buffers whose lifetimes do not
overlap share memory (first-fit by liveness).
"""
import logging
import re
import time

import numpy as np

from .. import buffers, dtypes
from ..errors import ArgumentError
from ..lower import lower
from ..timing import measure
from ..ops import default_schedule, layout_transform, schedule_stage
from ..ops.suite import flop_count
from ..ops.hand import blocked_layout, conv_schedule, dense_tiled, depthwise_block, depthwise_schedule
from ..ops.winograd import conv2d_winograd, schedule_winograd, winograd_weight
from ..schedule import create_schedule
from ..target import resolve as resolve_target
from ..tensor import placeholder
from .opdefs import OPS
from .plan import Plan, blocked_parts, lay_out

logger = logging.getLogger("alt.graph")

ALIGN = buffers.ALIGN


def hand_layouts(graph, target=None):
    """{conv2d node name: layout} the target's hand schedules store each plain convolution in: its
    register tile's vectors of channels (alt.ops.hand.blocked_layout). A depthwise convolution
    reads and writes its producer's channel blocks where they are whole vectors and not spatially
    tiled (no conversion on either side of it), else alt.ops.hand.depthwise_block's. Convolutions
    whose channels are not whole vectors are left out (they keep NCHW)."""
    blocks = {n.name: blocked_layout(target, channels=n.output.shape[1], width=n.output.shape[3])
              for n in graph.nodes if n.op == "conv2d" and n.attrs["groups"] == 1}
    out = {k: v for k, v in blocks.items() if v}
    lanes = resolve_target(target).lanes("float32")
    for n in graph.nodes:
        if not is_depthwise(n) or depthwise_block(n.output.shape[1], target) is None:
            continue
        v = n.inputs[0]
        while v.producer is not None and OPS[v.producer.op].kind == "simple":  # what the input is stored in
            v = v.producer.inputs[0]
        parts = blocked_parts(out.get(v.producer.name, "")) if v.producer is not None else None
        if parts and parts[:2] == (1, 1) and parts[2] % lanes == 0 and n.output.shape[1] % parts[2] == 0:
            out[n.name] = f"NCHW{parts[2]}c"
        else:
            out[n.name] = f"NCHW{depthwise_block(n.output.shape[1], target)}c"
    return out


def is_depthwise(node):
    """A depthwise convolution: one filter per channel (groups = input channels = output channels)."""
    if node.op != "conv2d":
        return False
    c = node.inputs[0].shape[1]
    return node.attrs["groups"] == c > 1 and node.output.shape[1] == c


def compile_network(graph, layouts=None, target=None, log=None, schedules=None, fuse_conversions=None,
                    winograd="auto"):
    """Compile `graph` for `target` (default: the target in effect).

    By hand: `layouts` {conv2d node name: 'NCHW' | 'NHWC' | 'NCHW<b>c', or a pair (input layout or
    None for any, output layout)} (default NCHW) and the hand schedules; `schedules` {node name:
    a tuned schedule (search.network.Choice)} replaces the hand schedule of those nodes;
    `fuse_conversions` (default True) fuses layout conversions into padding stages, producers and
    elementwise readers; False places an explicit conversion kernel at every layout mismatch
    (ALT-WP's network: layouts not propagated).

    `winograd`: which 3x3 stride-1 convolutions run as Winograd convolutions (alt.ops.winograd;
    weights transformed once, at build time). A node with a tuned schedule runs as its tuned point
    says (direct or Winograd) unless this option names it. "auto" (default): every other one that
    can (written in NHWC or channel blocks, channels in whole vectors), with the output tile of
    alt.ops.winograd.default_tile and the hand schedule; False: none of the others, and tuned
    Winograd points run direct with the hand schedule; {node name: 2 | 4 | 0 (direct)}: those nodes
    so (a tuned point that disagrees gives way to the hand schedule), the others as for False.
    `Network.winograd` says which ran so.

    From tuning: `log`, a log written by search.tune_network (or `alt tune-net`), rebuilds the
    tuned network without tuning again: its layout assignment and every operator's tuned schedule;
    operators the log does not cover get the defaults, with a warning naming them
    (`Network.fallbacks`), and conversions are fused as the record says."""
    from ..target import resolve
    target = resolve(target)
    fallbacks = []
    if log is not None:
        if layouts or schedules or fuse_conversions is not None:
            raise ArgumentError("compile_network: give a tuning log, or layouts, schedules and fuse_conversions, "
                                "not both")
        from search.network import from_log
        layouts, schedules, fallbacks, fuse_conversions, winograd = from_log(graph, log, target)
    with target:
        net = _compile(graph, layouts, target, schedules or {}, True if fuse_conversions is None else fuse_conversions,
                       winograd)
    net.fallbacks = fallbacks
    return net


def winograd_tiles(plan, option, schedules, target):
    """{conv2d node name: output tile m} of the nodes that run as Winograd convolutions under
    compile_network's `winograd` option (see there), the tuned `schedules` and the plan's layouts."""
    from ..ops import winograd as W
    lanes = target.lanes("float32")

    def fits(n):
        a = n.attrs
        if n.op != "conv2d" or not W.eligible(a["stride"], a["padding"], a["dilation"], a["groups"],
                                              n.inputs[1].shape[2:]):
            return "it is not a 3x3, stride-1, undilated, single-group convolution"
        if n.inputs[0].shape[1] % lanes:
            return f"its {n.inputs[0].shape[1]} input channels are not whole vectors of {lanes}"
        if W.winograd_layout(plan.value_layout(n.output), n.output.shape[1], lanes) is None:
            return (f"its output layout {plan.value_layout(n.output)} is not NHWC or NCHW<b>c in whole vectors "
                    f"of {lanes} channels")
        return None

    nodes = {n.name: n for n in plan.graph.nodes}
    if option is False or option is None:
        return {}
    if option == "auto":
        tuned = {name: c.winograd for name, c in schedules.items() if getattr(c, "winograd", 0)}
        hand = {n.name: W.default_tile(*n.output.shape[2:]) for n in plan.graph.nodes
                if n.name not in schedules and fits(n) is None}
        return {**hand, **tuned}
    if not isinstance(option, dict):
        raise ArgumentError(f"compile_network: winograd={option!r} must be 'auto', False or {{node name: 2, 4 or 0}}")
    out = {}
    for name, m in option.items():
        if name not in nodes:
            raise ArgumentError(f"compile_network: winograd names node {name!r}, which is not in graph "
                                f"{plan.graph.name!r}")
        if m not in (0, 2, 4):
            raise ArgumentError(f"compile_network: winograd tile {m!r} for node {name!r} must be 2, 4 or 0 (direct)")
        why = fits(nodes[name]) if m else None
        if why:
            raise ArgumentError(f"compile_network: node {name!r} cannot run as a Winograd convolution: {why}")
        if m:
            out[name] = m
    return out


def _compile(graph, layouts, target, schedules, fuse_conversions, winograd="auto"):
    from codegen import CRenderer, compile_c
    from codegen.program import load_library

    from ..target import cannot_run
    stats = {}
    t0 = time.perf_counter()
    plan = Plan(graph, layouts or {}, fuse_conversions)
    stats["plan"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    for name in schedules:
        if not any(n.name == name for n in graph.nodes):
            raise ArgumentError(f"compile_network: a schedule is given for node {name!r}, which is not in graph "
                                f"{graph.name!r}")
    tiles = winograd_tiles(plan, winograd, schedules, target)
    refused = []  # nodes whose tuned schedule reads or writes a layout other than the plan's
    kernels = [_kernel(plan, i, gr, schedules, tiles, refused) for i, gr in enumerate(plan.groups)]
    stats["schedule+lower"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    source, params, ws_bytes = _module(plan, kernels, CRenderer(target))
    stats["render"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    path = compile_c(source, target, what=f"network {graph.name}")
    stats["gcc"] = time.perf_counter() - t0
    ffi, lib = load_library(str(path), "alt_forward", 4)
    pffi, plib = load_library(str(path), "alt_profile",
                              signature="int alt_profile(void*, void*, void*, char*, double*)")
    net = Network(plan, source, ffi, lib.alt_forward, params, ws_bytes, stats, len(kernels))
    net._profile_fn, net._pffi = plib.alt_profile, pffi
    net._flops = [k.flops for k in kernels]
    net._foreign = cannot_run(target, f"network {graph.name}")
    net.winograd = tiles
    net.refused = refused
    return net


class Network:
    """A compiled network: net(*inputs) returns its outputs (numpy arrays, logical layouts).

    Thread-safe: calls from several threads run concurrently, each thread with a workspace of its
    own (allocated at its first call; `workspace_bytes` each). `fallbacks` names the operators a
    tuning log did not cover (built with the default schedules); `refused`, those whose tuned
    schedule would read an input or write its output in a layout other than the plan's (built
    with the default schedule, with a warning)."""

    def __init__(self, plan, source, ffi, fn, params, ws_bytes, stats, n_kernels):
        from codegen.program import Workspace, failure
        self._failure = failure
        self.plan, self.source, self._ffi, self._fn = plan, source, ffi, fn
        self.compile_stats, self.n_kernels = stats, n_kernels
        self._params = params  # keep the packed weights alive
        self._param_ptrs = ffi.new("void*[]", [ffi.cast("void*", p.ctypes.data) for p in params] or [ffi.NULL])
        self._workspace = Workspace(ALIGN)
        self.workspace_bytes = ws_bytes
        self.inputs = plan.graph.inputs
        self.outputs = plan.outputs
        unique = {}  # the plan writes each value once, in the order the graph first returns it
        self._returned = [unique.setdefault(id(v), len(unique)) for v in plan.graph.outputs]
        self.fallbacks = []
        self.refused = []  # nodes whose tuned schedule read or wrote a layout other than the plan's
        self.winograd = {}  # {conv2d node: output tile m} of the Winograd convolutions
        self._foreign = None  # the TargetError of a network compiled for a CPU this one is not
        self._profile_fn = self._pffi = None  # alt_profile: the driver with a clock reading per kernel
        self._flops = [0.0] * n_kernels

    def _io(self, inputs):
        if len(inputs) != len(self.inputs):
            raise ArgumentError(f"network {self.plan.graph.name!r} takes {len(self.inputs)} inputs "
                                f"({', '.join(v.name for v in self.inputs)}), got {len(inputs)}")
        arrays = []
        for a, v in zip(inputs, self.inputs):
            if not isinstance(a, np.ndarray) or a.dtype != np.float32 or a.shape != v.shape:
                got = f"{a.dtype}{list(a.shape)}" if isinstance(a, np.ndarray) else type(a).__name__
                raise ArgumentError(f"input {v.name!r}: expected a float32 array of shape {list(v.shape)}, got {got}")
            arrays.append(np.ascontiguousarray(a))
        outs = [buffers.empty(v.shape, np.float32) for v in self.outputs]  # the last kernels write them with vectors
        ptr = self._ffi.new("void*[]", [self._ffi.cast("void*", a.ctypes.data) for a in arrays])
        optr = self._ffi.new("void*[]", [self._ffi.cast("void*", a.ctypes.data) for a in outs])
        return arrays, outs, ptr, optr

    def _ws(self):
        return self._ffi.cast("char*", self._workspace.address(self.workspace_bytes))

    def __call__(self, *inputs):
        if self._foreign:
            raise self._foreign
        arrays, outs, ptr, optr = self._io(inputs)
        rc = self._fn(ptr, optr, self._param_ptrs, self._ws())
        if rc != 0:
            raise self._failure(f"network {self.plan.graph.name!r}", rc)
        outs = [outs[i] for i in self._returned]
        return outs[0] if len(outs) == 1 else outs

    def time(self, *inputs, repeat=5, warmup=2, min_time=0.05):
        """Median seconds per forward pass (alt.timing.measure)."""
        arrays, outs, ptr, optr = self._io(inputs)
        ws = self._ws()
        return measure(lambda: self._fn(ptr, optr, self._param_ptrs, ws), None, repeat, warmup, min_time)

    def profile(self, *inputs, repeat=20, warmup=2):
        """Where a forward pass spends its time, kernel by kernel (TVM's debug executor): a Profile
        of each kernel's median and minimum seconds over `repeat` timed passes (after `warmup`), its
        share of the summed medians and its GFLOP/s. The clock is read between kernels inside the
        compiled driver, so no Python call is counted."""
        if self._foreign:
            raise self._foreign
        if repeat < 1 or warmup < 0:
            raise ArgumentError(f"network {self.plan.graph.name!r}: profile needs repeat >= 1 and warmup >= 0, "
                                f"got repeat={repeat}, warmup={warmup}")
        arrays, outs, ptr, optr = self._io(inputs)
        ws = self._ws()
        stamps = self._pffi.new("double[]", self.n_kernels + 1)
        runs = []
        for i in range(warmup + repeat):
            rc = self._profile_fn(ptr, optr, self._param_ptrs, ws, stamps)
            if rc != 0:
                raise self._failure(f"network {self.plan.graph.name!r}", rc)
            if i >= warmup:
                runs.append(np.diff(np.frombuffer(self._pffi.buffer(stamps), np.float64)))
        return Profile(self.plan, np.array(runs), self._flops, self.winograd)


class Profile:
    """Seconds per kernel of a compiled network over several passes (Network.profile).

    `rows`: one dict per kernel in call order: index, kernel (the plan's group: anchor node and
    fused operators, or a layout conversion), algorithm ('winograd F(m x m, 3 x 3)' for a Winograd
    convolution, else None), median_s, min_s, share (of the summed medians) and gflops (at the
    median, of the direct operator's flops; None for conversions). `total_s`: the median of the
    passes' sums. str() is a table, slowest kernels first; `top(n)` the n slowest rows."""

    def __init__(self, plan, seconds, flops, winograd=None):
        self.network = plan.graph.name
        med, low = np.median(seconds, axis=0), seconds.min(axis=0)
        self.total_s = float(np.median(seconds.sum(axis=1)))
        whole = float(med.sum()) or 1.0
        tiles = {name: m for name, m in (winograd or {}).items() if m}
        self.rows = [{"index": k, "kernel": str(gr), "median_s": float(med[k]), "min_s": float(low[k]),
                      "algorithm": (f"winograd F({tiles[gr.anchor.name]}x{tiles[gr.anchor.name]}, 3x3)"
                                    if gr.anchor is not None and gr.anchor.name in tiles else None),
                      "share": float(med[k]) / whole,
                      "gflops": flops[k] / med[k] * 1e-9 if flops[k] and med[k] > 0 else None}
                     for k, gr in enumerate(plan.groups)]

    def top(self, n=10):
        return sorted(self.rows, key=lambda r: -r["median_s"])[:n]

    def by_op(self):
        """{anchor operator (or 'layout_transform'): (kernels, summed median seconds)}."""
        out = {}
        for r in self.rows:
            conversion = r["kernel"].startswith("layout_transform(")
            op = "layout_transform" if conversion else r["kernel"].split(": ", 1)[-1].split(" + ")[0]
            n, t = out.get(op, (0, 0.0))
            out[op] = (n + 1, t + r["median_s"])
        return out

    def __str__(self):
        lines = [f"network {self.network}: {len(self.rows)} kernels, {self.total_s * 1e3:.3f} ms a pass (median)",
                 f"  {'k':>4} {'median ms':>10} {'min ms':>9} {'share':>6} {'GFLOP/s':>8}  kernel"]
        for r in self.top(len(self.rows)):
            g = f"{r['gflops']:8.1f}" if r["gflops"] is not None else f"{'-':>8}"
            lines.append(f"  {r['index']:>4} {r['median_s'] * 1e3:10.3f} {r['min_s'] * 1e3:9.3f} "
                         f"{r['share'] * 100:5.1f}% {g}  {r['kernel']}" +
                         (f" [{r['algorithm']}]" if r["algorithm"] else ""))
        return "\n".join(lines)


class _Kernel:
    def __init__(self, func, sources, packed, flops=0.0):
        self.func = func  # LoweredFunc
        self.sources = sources  # per argument: a graph Value, or ("param", index into packed list)
        self.packed = packed  # physical arrays of the parameters this kernel reads
        self.flops = flops  # of the compute definition (alt.ops.suite.flop_count); 0 for a conversion


def _relayout_pads(s, layouts, out_layout):
    """A padding stage of a default-scheduled kernel (pooling, depthwise or grouped convolution)
    whose output is stored with channels innermost (`out_layout` NHWC or blocked) takes its input's
    channel blocks (`layouts` {id(input tensor): layout name}): it then copies whole vectors, and
    the kernel's loop, vectorized along channels, reads contiguous memory; in NCHW it would gather
    one float per channel (a 1.2 ms max pool in ResNet-18 instead of 0.25 ms). An output in NCHW
    is vectorized along its rows, and its padding stays NCHW."""
    if out_layout != "NHWC" and not blocked_parts(out_layout):
        return
    for st in s.stages:
        if st.op.tag != "pad" or st.tensor.ndim != 4 or len(st.op.input_tensors) != 1:
            continue
        name = layouts.get(id(st.op.input_tensors[0]))
        parts = blocked_parts(name)
        if name == "NHWC" or parts:
            lay_out(s.layout(st.tensor), name if name == "NHWC" else f"NCHW{parts[2]}c", st.tensor.shape)


def _planned_schedule(plan, out, tensors):
    """A fresh schedule of `out` whose activation inputs have the layouts the plan gave their
    values, and those layouts ({id(tensor): Layout})."""
    s = create_schedule(out)
    planned = {}
    for t, v in tensors.values():
        if not v.is_param:
            lay_out(s.layout(t), plan.value_layout(v), v.shape)
            planned[id(t)] = s.layout_of(t)
    return s, planned


def _kernel(plan, i, gr, schedules, winograd=None, refused=None):
    if gr.convert:
        v, a, b = gr.convert
        X = placeholder(v.shape, name="in0")
        Y = layout_transform(X, name="out")
        s = create_schedule(Y)
        lay_out(s.layout(X), a, v.shape)
        lay_out(s.layout(Y), b, v.shape)
        schedule_stage(s, s[Y])
        return _Kernel(lower(s, [X, Y], name=f"k{i}"), [v, gr.target], [])
    tensors = {}

    def tensor_for(v):  # generic names, so that repeated layers give identical kernels
        if id(v) not in tensors:
            tensors[id(v)] = (placeholder(v.shape, name=f"in{len(tensors)}"), v)
        return tensors[id(v)][0]

    a = gr.anchor
    anchor_ins = [tensor_for(plan.reads.get((id(a), j), v)) for j, v in enumerate(a.inputs)]
    m = (winograd or {}).get(a.name, 0)
    transformed = {}  # id(param tensor) -> its data as the kernel reads it (before its layout)
    if m:  # weights transformed here, once: the kernel reads U = G w G^T
        u = winograd_weight(a.inputs[1].data, m)
        anchor_ins[1] = placeholder(u.shape, name=anchor_ins[1].name)
        tensors[id(a.inputs[1])] = (anchor_ins[1], a.inputs[1])
        transformed[id(anchor_ins[1])] = u
        pad = a.attrs["padding"]
        anchor = out = conv2d_winograd(anchor_ins[0], anchor_ins[1], m, pad if isinstance(pad, int) else pad[0],
                                       name=a.op)
    else:
        anchor = out = OPS[a.op].build(anchor_ins, a.attrs, a.op)
    for j, e in enumerate(gr.epilogue):
        extra = [tensor_for(plan.reads.get((id(e), q), v)) for q, v in enumerate(e.inputs[1:], 1)]
        out = OPS[e.op].build([out] + extra, e.attrs, f"{e.op}{j}")
    lay = plan.value_layout(gr.output)
    hand = (conv_schedule(lay) if a.op == "conv2d" and a.attrs["groups"] == 1 else
            depthwise_schedule(lay) if is_depthwise(a) else None)
    tuned = schedules.get(a.name)
    if tuned is not None and getattr(tuned, "winograd", 0) != m:
        tuned = None  # the option overrode the tuned algorithm: the hand schedule of the one chosen
    s, planned = _planned_schedule(plan, out, tensors)
    if tuned is not None:
        tuned.schedule(s, anchor, out if gr.epilogue else None)
        moved = [v.name for t, v in tensors.values() if not v.is_param and s.layout_of(t) != planned[id(t)]]
        probe = create_schedule(out)  # the output as the plan lays it out (the schedules lay it out themselves)
        lay_out(probe.layout(out), lay, out.shape)
        if s.layout_of(out) != probe.layout_of(out):
            moved.append(f"{gr.output.name} (its output, planned {lay})")
        if moved:  # the point lays out an input that another kernel writes (a tuned GEMM packing an
            #        activation B), or writes a layout its readers do not expect: it cannot run here
            logger.warning("network %s: the tuned schedule of node %s would read or write %s in a layout of its "
                           "own, not the one the plan gives it; the node keeps its default schedule",
                           plan.graph.name, a.name, ", ".join(moved))
            if refused is not None:
                refused.append(a.name)
            tuned = None
            s, _ = _planned_schedule(plan, out, tensors)
    if tuned is None:  # the hand schedules: they read every input in the layout the plan gave it
        end = out if gr.epilogue else None
        if m:
            x = plan.reads.get((id(a), 0), a.inputs[0])
            schedule_winograd(s, anchor, layout=lay, in_layout=plan.value_layout(x), out=end, relayout_input=False)
        elif hand is not None:
            hand(s, anchor, relayout_input=False, out=end)
        elif a.op == "dense":
            dense_tiled(s, anchor, out=end)
        else:
            lay_out(s.layout(out), lay, out.shape)
            _relayout_pads(s, {id(t): plan.value_layout(v) for t, v in tensors.values() if not v.is_param}, lay)
            default_schedule(s)
    args, sources, packed = [], [], []
    for t, v in tensors.values():
        args.append(t)
        if v.is_param:
            sources.append(("param", len(packed)))
            packed.append(s.layout_of(t).to_physical(transformed.get(id(t), v.data)))
        else:
            sources.append(v)
    args.append(out)
    sources.append(gr.output)
    flops = flop_count(out)
    if m:  # the operator's flops (a direct convolution's), so that GFLOP/s compare across algorithms
        direct = OPS[a.op].build([anchor_ins[0], placeholder(a.inputs[1].shape)], a.attrs, a.op)
        flops += flop_count(direct) - flop_count(anchor)
    return _Kernel(lower(s, args, name=f"k{i}"), sources, packed, flops)


def _module(plan, kernels, renderer):
    """C source of all kernels plus the driver; the packed parameters; workspace bytes."""
    graph = plan.graph
    in_index = {id(v): i for i, v in enumerate(graph.inputs)}
    out_index = {id(v): i for i, v in enumerate(plan.outputs)}
    # lifetimes of intermediate values (by kernel index) and kernel temporaries
    first, last, size = {}, {}, {}
    for k, kern in enumerate(kernels):
        for src, buf in zip(kern.sources, kern.func.args):
            if isinstance(src, tuple) or id(src) in in_index or id(src) in out_index:
                continue
            first.setdefault(id(src), k)
            last[id(src)] = k
            size[id(src)] = buffers.padded_bytes(buf)
        for b in kern.func.temps:
            first[id(b)], last[id(b)], size[id(b)] = k, k, buffers.padded_bytes(b)
    offsets, ws_bytes = _first_fit(first, last, size)
    params, bodies, symbols, calls = [], [], {}, []
    for k, kern in enumerate(kernels):
        base = len(params)
        params += kern.packed
        text = renderer.function(kern.func, "KERNEL", qualifier="static ", temps_as_args=True)
        if text not in symbols:  # identical kernels (repeated layers) are compiled once
            symbols[text] = f"k{len(symbols)}"
            bodies.append(text.replace(" KERNEL(", f" {symbols[text]}(", 1))
        ptrs = []
        for src, buf in zip(kern.sources, kern.func.args):
            t = dtypes.to_c(buf.dtype)
            if isinstance(src, tuple):
                ptrs.append(f"({t}*)prm[{base + src[1]}]")
            elif id(src) in in_index:
                ptrs.append(f"({t}*)in[{in_index[id(src)]}]")
            elif id(src) in out_index:
                ptrs.append(f"({t}*)out[{out_index[id(src)]}]")
            else:
                ptrs.append(f"({t}*)(ws + {offsets[id(src)]})")
        ptrs += [f"({dtypes.to_c(b.dtype)}*)(ws + {offsets[id(b)]})" for b in kern.func.temps]
        what = re.sub(r"[^A-Za-z0-9_.+ -]", "_", str(plan.groups[k]))  # a comment, sanitized
        calls.append(f"  if ((rc = {symbols[text]}({', '.join(ptrs)}))) return rc;  /* {what} */")
    driver = ("int alt_forward(void** in, void** out, void** prm, char* ws) {\n  int rc;\n" + "\n".join(calls) +
              "\n  return 0;\n}\n")
    # the same calls, each followed by a clock reading: Network.profile's seconds per kernel
    timed = [f"{c}\n  t[{k + 1}] = alt_clock();" for k, c in enumerate(calls)]
    driver += ("#include <time.h>\nstatic double alt_clock(void) {\n  struct timespec ts;\n"
               "  clock_gettime(CLOCK_MONOTONIC, &ts);\n  return ts.tv_sec + 1e-9 * ts.tv_nsec;\n}\n"
               "int alt_profile(void** in, void** out, void** prm, char* ws, double* t) {\n  int rc;\n"
               "  t[0] = alt_clock();\n" + "\n".join(timed) + "\n  return 0;\n}\n")
    return renderer.render_module(bodies, driver), params, ws_bytes


def _first_fit(first, last, size):
    """Offsets for buffers live over [first, last] kernels; overlapping lifetimes never share bytes."""
    live, offsets, top = [], {}, 0
    for key in sorted(first, key=lambda k: (first[k], -size[k])):
        live = [(o, s, e) for o, s, e in live if e >= first[key]]
        at = 0
        for o, s, e in sorted(live):
            if at + size[key] <= o:
                break
            at = max(at, o + s)
        offsets[key] = at
        live.append((at, size[key], last[key]))
        top = max(top, at + size[key])
    return offsets, top
