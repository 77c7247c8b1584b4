"""What the graph knows of each operator: its kind for layout planning, how to build its compute
definition (alt.ops) and the same operation in torch.nn.functional (the reference).

Kinds: 'sensitive' operators (convolutions, dense, matmuls) carry a chosen layout; 'simple'
operators keep the rank and inherit their input's layout ('elementwise' ones can also be fused
into their producer's kernel as an epilogue); 'other' operators produce the default layout.
"""
from dataclasses import dataclass
from typing import Callable

from .. import ops as O
from ..ops.suite import channel_view
from ..tensor import placeholder


@dataclass(frozen=True)
class OpDef:
    kind: str
    build: Callable  # (input tensors, attrs, name) -> output tensor
    torch: Callable  # (torch module, input tensors, attrs) -> torch tensor
    elementwise: bool = False

    def infer(self, node):
        ins = [placeholder(v.shape, name=f"in{i}") for i, v in enumerate(node.inputs)]
        return self.build(ins, node.attrs, "out").shape


def _F(torch):
    return torch.nn.functional


OPS = {
    "conv2d": OpDef("sensitive",
                    lambda i, a, n: O.conv2d_nchw(i[0], i[1], a["stride"], a["padding"], a["dilation"], a["groups"], n),
                    lambda t, i, a: _F(t).conv2d(i[0], i[1], None, a["stride"], a["padding"], a["dilation"],
                                                 a["groups"])),
    "dense": OpDef("sensitive", lambda i, a, n: O.dense(i[0], i[1], i[2] if len(i) > 2 else None, n),
                   lambda t, i, a: _F(t).linear(i[0], i[1], i[2] if len(i) > 2 else None)),
    "matmul": OpDef("sensitive", lambda i, a, n: O.matmul(i[0], i[1], n), lambda t, i, a: i[0] @ i[1]),
    "batch_matmul": OpDef("sensitive", lambda i, a, n: O.batch_matmul(i[0], i[1], n),
                          lambda t, i, a: t.bmm(i[0], i[1])),
    "bias_add": OpDef("simple", lambda i, a, n: O.bias_add(i[0], i[1], 1, n),
                      lambda t, i, a: i[0] + channel_view(i[0], i[1]), True),
    "batch_norm": OpDef("simple", lambda i, a, n: O.batch_norm(i[0], i[1], i[2], 1, n),
                        lambda t, i, a: i[0] * channel_view(i[0], i[1]) + channel_view(i[0], i[2]), True),
    "relu": OpDef("simple", lambda i, a, n: O.relu(i[0], n), lambda t, i, a: t.relu(i[0]), True),
    "relu6": OpDef("simple", lambda i, a, n: O.clip(i[0], 0.0, 6.0, n), lambda t, i, a: t.clamp(i[0], 0.0, 6.0),
                   True),
    "add": OpDef("simple", lambda i, a, n: O.add(i[0], i[1], n), lambda t, i, a: i[0] + i[1], True),
    "scale": OpDef("simple", lambda i, a, n: O.scale(i[0], a["factor"], n), lambda t, i, a: i[0] * a["factor"], True),
    "gelu": OpDef("simple", lambda i, a, n: O.gelu(i[0], n),
                  lambda t, i, a: _F(t).gelu(i[0], approximate="tanh"), True),
    "max_pool2d": OpDef("simple", lambda i, a, n: O.max_pool2d(i[0], a["kernel"], a["stride"], a["padding"], n),
                        lambda t, i, a: _F(t).max_pool2d(i[0], a["kernel"], a["stride"], a["padding"])),
    "avg_pool2d": OpDef("simple", lambda i, a, n: O.avg_pool2d(i[0], a["kernel"], a["stride"], a["padding"], n),
                        lambda t, i, a: _F(t).avg_pool2d(i[0], a["kernel"], a["stride"], a["padding"])),
    "global_avg_pool2d": OpDef("other", lambda i, a, n: O.global_avg_pool2d(i[0], n),
                               lambda t, i, a: i[0].mean(dim=(2, 3))),
    "softmax": OpDef("other", lambda i, a, n: O.softmax(i[0], n), lambda t, i, a: t.softmax(i[0], dim=-1)),
    "layer_norm": OpDef("other", lambda i, a, n: O.layer_norm(i[0], i[1], i[2], a["eps"], n),
                        lambda t, i, a: _F(t).layer_norm(i[0], (i[0].shape[-1],), i[1], i[2], a["eps"])),
    "reshape": OpDef("other", lambda i, a, n: O.reshape(i[0], a["shape"], n),
                     lambda t, i, a: i[0].reshape(a["shape"])),
    "transpose": OpDef("other", lambda i, a, n: O.transpose(i[0], a["axes"], n),
                       lambda t, i, a: i[0].permute(*a["axes"])),
}
