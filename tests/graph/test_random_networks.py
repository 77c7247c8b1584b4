"""Property: a random small network, compiled under random layouts (conversions fused or not,
Winograd or not), gives PyTorch's outputs. Two families: convolutional (plain, strided, depthwise
convolutions, pooling, batch norm, residual adds, channel-blocked and spatially tiled layouts) and
sequence (dense, matmul, attention heads through reshape/transpose/batch_matmul, softmax, layer
norm, GELU). Each seed is one network; a failure prints its plan."""
import numpy as np
import pytest

from alt.graph import (Graph, add, avg_pool2d, batch_matmul, batch_norm, bias_add, compile_network, conv2d, dense,
                       gelu, global_avg_pool2d, layer_norm, matmul, max_pool2d, relu, relu6, reshape, scale, softmax,
                       transpose)
from alt.graph.plan import layout_error
from alt.graph.reference import run_torch
from alt.target import current

pytest.importorskip("torch")


def _pick(rng, xs):
    return xs[int(rng.integers(len(xs)))]


def conv_network(rng, lanes):
    g = Graph("random_cnn")
    c0, h0 = _pick(rng, [3, lanes, 2 * lanes, 24]), _pick(rng, [5, 7, 8, 12])
    vals = [g.input((1, c0, h0, h0))]
    for _ in range(int(rng.integers(2, 8))):
        v = vals[-1] if rng.random() < 0.6 else _pick(rng, vals)
        _, c, h, _ = v.shape
        op = _pick(rng, ["conv", "conv", "conv", "depthwise", "relu", "relu6", "bias", "bn", "add", "max", "avg"])
        if op == "conv":
            o, k = _pick(rng, [lanes, 2 * lanes, 8, 24]), _pick(rng, [1, 3])
            pad = _pick(rng, [0, 1]) if k == 3 else 0
            if h + 2 * pad < k:
                continue
            w = g.param(rng.standard_normal((o, c, k, k)) / np.sqrt(c * k * k))
            y = conv2d(v, w, stride=_pick(rng, [1, 1, 2]) if h >= 4 else 1, padding=pad)
        elif op == "depthwise":
            y = conv2d(v, g.param(rng.standard_normal((c, 1, 3, 3)) / 3), stride=_pick(rng, [1, 2]) if h >= 4 else 1,
                       padding=1, groups=c)
        elif op in ("relu", "relu6"):
            y = (relu if op == "relu" else relu6)(v)
        elif op == "bias":
            y = bias_add(v, g.param(rng.standard_normal(c)))
        elif op == "bn":
            y = batch_norm(v, g.param(rng.random(c) + 0.5), g.param(rng.standard_normal(c)))
        elif op == "add":
            same = [u for u in vals if u.shape == v.shape and u is not v]
            if not same:
                continue
            y = add(v, _pick(rng, same))
        elif op == "max":
            if h < 2:
                continue
            y = max_pool2d(v, 2, 2)
        else:
            y = avg_pool2d(v, 3, 1, padding=1)
        vals.append(y)
    if rng.random() < 0.2:
        vals.append(global_avg_pool2d(vals[-1]))
    return g, vals


def sequence_network(rng, lanes):
    g = Graph("random_seq")
    vals = [g.input((_pick(rng, [4, 8, 12, 16]), _pick(rng, [8, 16, 24, 2 * lanes])))]
    for _ in range(int(rng.integers(2, 8))):
        v = vals[-1] if rng.random() < 0.6 else _pick(rng, vals)
        m, k = v.shape
        op = _pick(rng, ["dense", "dense", "matmul", "softmax", "ln", "gelu", "scale", "add", "attention"])
        if op == "dense":
            n = _pick(rng, [8, 16, 24, k])
            y = dense(v, g.param(rng.standard_normal((n, k)) / np.sqrt(k)),
                      g.param(rng.standard_normal(n)) if rng.random() < 0.7 else None)
        elif op == "matmul":
            y = matmul(v, g.param(rng.standard_normal((k, _pick(rng, [8, 16]))) / np.sqrt(k)))
        elif op == "softmax":
            y = softmax(v)
        elif op == "ln":
            y = layer_norm(v, g.param(rng.random(k) + 0.5), g.param(rng.standard_normal(k)))
        elif op == "gelu":
            y = gelu(v)
        elif op == "scale":
            y = scale(v, rng.random() + 0.5)
        elif op == "add":
            same = [u for u in vals if u.shape == v.shape and u is not v]
            if not same:
                continue
            y = add(v, _pick(rng, same))
        else:  # self-attention over h heads, as BERT splits and merges them
            h = _pick(rng, [d for d in (1, 2, 4) if k % d == 0])
            q = transpose(reshape(v, (m, h, k // h)), (1, 0, 2))
            p = softmax(scale(batch_matmul(q, transpose(q, (0, 2, 1))), 1 / np.sqrt(k // h)))
            y = reshape(transpose(batch_matmul(p, q), (1, 0, 2)), (m, k))
        vals.append(y)
    return g, vals


def random_layouts(rng, g, lanes):
    """A layout (or an (input, output) pair) for most convolutions: NCHW, NHWC, channel blocks
    that divide the channels, and spatial tiles of them that divide the rows and columns."""
    out = {}
    for n in g.nodes:
        if n.op != "conv2d" or rng.random() < 0.2:
            continue
        o, h, w = n.output.shape[1:]
        names = ["NCHW", "NHWC"]
        for b in {lanes, 2 * lanes, 8}:
            if o % b == 0:
                names.append(f"NCHW{b}c")
                names += [f"NCHW{t}h{b}c" for t in (2, 3) if h % t == 0 and t < h]
                names += [f"NCHW{t}h2w{b}c" for t in (2, 3) if h % t == 0 and t < h and w % 2 == 0 and w > 2]
        lay = _pick(rng, sorted(names))
        read_alike = layout_error(lay, n.inputs[0].shape) is None  # a spatial tile may not fit the input
        out[n.name] = (_pick(rng, [None, "NCHW", "NHWC"]), lay) if rng.random() < 0.3 or not read_alike else lay
    return out


@pytest.mark.parametrize("seed", range(14))
def test_a_random_network_under_random_layouts_matches_torch(seed):
    rng = np.random.default_rng(seed)
    lanes = current().lanes("float32")
    g, vals = (sequence_network if seed % 3 == 0 else conv_network)(rng, lanes)
    if vals[-1].producer is None:  # every draw was skipped
        vals.append(scale(vals[-1], 2.0))
    computed = [v for v in vals[1:-1] if v.producer is not None]
    g.output(vals[-1], *([_pick(rng, computed)] if computed and rng.random() < 0.4 else []))
    layouts = random_layouts(rng, g, lanes)
    fuse, winograd = bool(rng.random() < 0.7), _pick(rng, ["auto", False])
    x = rng.standard_normal(g.inputs[0].shape).astype("f4")
    net = compile_network(g, layouts, fuse_conversions=fuse, winograd=winograd)
    got = net(x)
    got = got if isinstance(got, list) else [got]
    for i, (a, want) in enumerate(zip(got, run_torch(g, x))):
        assert a.shape == want.shape
        err = np.abs(a - want).max() / (np.abs(want).max() + 1e-6)
        assert err < 2e-4, f"output {i}: relative error {err:.3g}\nlayouts {layouts}, fuse {fuse}, " \
                           f"winograd {winograd}\n{net.plan}"
