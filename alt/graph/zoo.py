"""Model zoo with seeded random weights: ResNet-18, ResNet-50, MobileNet-V2, a BERT-base encoder layer.

Batch norms are in inference form (folded to a per-channel scale and shift). Weights are drawn
with He-style scaling so that activations stay in a sane range through deep networks.
"""
import numpy as np

from . import ir as G


class _Weights:
    def __init__(self, graph, seed):
        self.g, self.rng = graph, np.random.default_rng(seed)

    def conv(self, name, o, c, k):
        std = np.sqrt(2.0 / (c * k * k))
        return self.g.param(self.rng.standard_normal((o, c, k, k)) * std, f"{name}.w")

    def bn(self, name, c):
        scale = self.g.param(self.rng.uniform(0.5, 1.0, c), f"{name}.scale")
        shift = self.g.param(self.rng.uniform(-0.1, 0.1, c), f"{name}.shift")
        return scale, shift

    def dense(self, name, o, i):
        w = self.g.param(self.rng.standard_normal((o, i)) / np.sqrt(i), f"{name}.w")
        b = self.g.param(self.rng.uniform(-0.1, 0.1, o), f"{name}.b")
        return w, b

    def vec(self, name, n, lo, hi):
        return self.g.param(self.rng.uniform(lo, hi, n), name)


def _conv_bn(W, x, name, o, k, stride=1, padding=0, relu=True, groups=1, relu6=False):
    w = W.conv(name, o, x.shape[1] // groups, k)
    y = G.conv2d(x, w, stride=stride, padding=padding, groups=groups, name=name)
    y = G.batch_norm(y, *W.bn(f"{name}.bn", o), name=f"{name}.bn")
    if relu6:
        return G.relu6(y, name=f"{name}.relu6")
    return G.relu(y, name=f"{name}.relu") if relu else y


def _resnet(name, blocks, bottleneck, batch, image, seed):
    g = G.Graph(name)
    W = _Weights(g, seed)
    x = g.input((batch, 3, image, image), "x")
    y = _conv_bn(W, x, "conv1", 64, 7, 2, 3)
    y = G.max_pool2d(y, 3, 2, 1, name="maxpool")
    c = 64
    for stage, (n, width) in enumerate(zip(blocks, (64, 128, 256, 512))):
        for b in range(n):
            p = f"layer{stage + 1}.{b}"
            stride = 2 if b == 0 and stage > 0 else 1
            out_c = width * 4 if bottleneck else width
            if bottleneck:
                h = _conv_bn(W, y, f"{p}.conv1", width, 1)
                h = _conv_bn(W, h, f"{p}.conv2", width, 3, stride, 1)
                h = _conv_bn(W, h, f"{p}.conv3", out_c, 1, relu=False)
            else:
                h = _conv_bn(W, y, f"{p}.conv1", width, 3, stride, 1)
                h = _conv_bn(W, h, f"{p}.conv2", width, 3, 1, 1, relu=False)
            short = y if (stride == 1 and c == out_c) else _conv_bn(W, y, f"{p}.downsample", out_c, 1, stride,
                                                                    relu=False)
            y = G.relu(G.add(h, short, name=f"{p}.add"), name=f"{p}.relu")
            c = out_c
    y = G.global_avg_pool2d(y, name="avgpool")
    y = G.dense(y, *W.dense("fc", 1000, c), name="fc")
    return g.output(y)


def resnet18(batch=1, image=224, seed=0):
    return _resnet("resnet18", (2, 2, 2, 2), False, batch, image, seed)


def resnet50(batch=1, image=224, seed=0):
    return _resnet("resnet50", (3, 4, 6, 3), True, batch, image, seed)


def mobilenet_v2(batch=1, image=224, seed=0, width=1.0):
    g = G.Graph("mobilenet_v2")
    W = _Weights(g, seed)
    x = g.input((batch, 3, image, image), "x")

    def ch(c):
        return max(8, int(c * width + 4) // 8 * 8)

    y = _conv_bn(W, x, "features.0", ch(32), 3, 2, 1, relu6=True)
    c = ch(32)
    settings = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                (6, 320, 1, 1)]
    i = 1
    for t, cout, n, s in settings:
        for b in range(n):
            p = f"features.{i}"
            stride = s if b == 0 else 1
            hidden = c * t
            h = y if t == 1 else _conv_bn(W, y, f"{p}.expand", hidden, 1, relu6=True)
            h = _conv_bn(W, h, f"{p}.dw", hidden, 3, stride, 1, groups=hidden, relu6=True)
            h = _conv_bn(W, h, f"{p}.project", ch(cout), 1, relu=False)
            y = G.add(h, y, name=f"{p}.add") if (stride == 1 and c == ch(cout)) else h
            c = ch(cout)
            i += 1
    y = _conv_bn(W, y, f"features.{i}", 1280, 1, relu6=True)
    y = G.global_avg_pool2d(y, name="avgpool")
    y = G.dense(y, *W.dense("classifier", 1000, 1280), name="classifier")
    return g.output(y)


def bert_layer(seq=128, hidden=768, heads=12, ffn=3072, seed=0):
    """One BERT-base encoder layer (post-norm), tanh-approximated GELU."""
    g = G.Graph("bert_layer")
    W = _Weights(g, seed)
    x = g.input((seq, hidden), "x")
    d = hidden // heads

    def heads_of(v, name):  # (seq, hidden) -> (heads, seq, d)
        return G.transpose(G.reshape(v, (seq, heads, d), name=f"{name}.split"), (1, 0, 2), name=f"{name}.heads")

    q = heads_of(G.dense(x, *W.dense("query", hidden, hidden), name="query"), "q")
    k = heads_of(G.dense(x, *W.dense("key", hidden, hidden), name="key"), "k")
    v = heads_of(G.dense(x, *W.dense("value", hidden, hidden), name="value"), "v")
    kt = G.transpose(k, (0, 2, 1), name="k.T")
    scores = G.scale(G.batch_matmul(q, kt, name="scores"), 1.0 / np.sqrt(d), name="scores.scale")
    probs = G.softmax(scores, name="probs")
    ctx = G.batch_matmul(probs, v, name="context")
    ctx = G.reshape(G.transpose(ctx, (1, 0, 2), name="context.T"), (seq, hidden), name="context.merge")
    attn = G.dense(ctx, *W.dense("attn.out", hidden, hidden), name="attn.out")
    h = G.layer_norm(G.add(attn, x, name="attn.add"), W.vec("ln1.gamma", hidden, 0.8, 1.2),
                     W.vec("ln1.beta", hidden, -0.1, 0.1), name="ln1")
    f = G.gelu(G.dense(h, *W.dense("ffn.in", ffn, hidden), name="ffn.in"), name="ffn.gelu")
    f = G.dense(f, *W.dense("ffn.out", hidden, ffn), name="ffn.out")
    out = G.layer_norm(G.add(f, h, name="ffn.add"), W.vec("ln2.gamma", hidden, 0.8, 1.2),
                       W.vec("ln2.beta", hidden, -0.1, 0.1), name="ln2")
    return g.output(out)


ZOO = {"resnet18": resnet18, "resnet50": resnet50, "mobilenet_v2": mobilenet_v2, "bert_layer": bert_layer}
