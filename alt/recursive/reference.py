"""The reference semantics: the models' equations written out again (independently of their alt
cells) over an array module, run node by node with numpy. The same equations run on torch tensors
give the PyTorch baselines (experiments.recursive_baselines), per node or level by level.

States are dicts of (nodes, size) arrays; W x is written x @ W.T so that a row is a node.
"""
import numpy as np

from .structure import concat, to_arrays


class NumpyOps:
    def __init__(self):
        self.sig = lambda x: 1.0 / (1.0 + np.exp(-x))
        self.tanh, self.relu = np.tanh, lambda x: np.maximum(x, 0.0)
        self.cat = lambda xs, axis: np.concatenate(xs, axis=axis)
        self.asarray = lambda a: a


def cells(model, ops):
    """(leaf(x inputs {name: (B, E)}), internal(children [{state: (B, size)}], x)) of a model."""
    w = {k: ops.asarray(v) for k, v in model.weights.items()}
    H = next(iter(model.states.values()))
    name = model.name
    if name == "treefc":
        return (lambda x: {"h": x["word"]},
                lambda ch, x: {"h": ops.relu(ops.cat([ch[0]["h"], ch[1]["h"]], 1) @ w["W"].T + w["b"])})
    if name == "treegru":
        def leaf(x):
            zh = x["word"] @ w["W_zh"].T
            z = ops.sig(zh[:, :H] + w["b_rz"][H:])
            return {"h": (1 - z) * ops.tanh(zh[:, H:] + w["b_h"])}

        def internal(ch, x):
            hlr = ch[0]["h"] + ch[1]["h"]
            rz = ops.sig(hlr @ w["U_rz"].T + w["b_rz"])
            r, z = rz[:, :H], rz[:, H:]
            g = ops.tanh((r * hlr) @ w["U_h"].T + w["b_h"])
            return {"h": (1 - z) * g + z * hlr}
        return leaf, internal
    if name == "treelstm":
        def tail(iou, fc):
            i, o, u = ops.sig(iou[:, :H]), ops.sig(iou[:, H:2 * H]), ops.tanh(iou[:, 2 * H:])
            c = i * u + fc
            return {"h": o * ops.tanh(c), "c": c}

        def internal(ch, x):
            (l, r) = ch
            iou = (l["h"] + r["h"]) @ w["U_iou"].T + w["b_iou"]
            fl, fr = ops.sig(l["h"] @ w["U_f"].T + w["b_f"]), ops.sig(r["h"] @ w["U_f"].T + w["b_f"])
            return tail(iou, fl * l["c"] + fr * r["c"])
        return (lambda x: tail(x["word"] @ w["W_iou"].T + w["b_iou"], 0.0)), internal
    if name == "mvrnn":
        def internal(ch, x):
            (l, r) = ch
            B = l["v"].shape[0]
            Ml, Mr = l["M"].reshape(B, H, H), r["M"].reshape(B, H, H)
            a = (Mr @ l["v"].reshape(B, H, 1)).reshape(B, H)
            b = (Ml @ r["v"].reshape(B, H, 1)).reshape(B, H)
            v = ops.tanh(ops.cat([a, b], 1) @ w["W_v"].T + w["b_v"])
            M = w["W_M"] @ ops.cat([Ml, Mr], 1) + w["b_M"].reshape(H, 1)
            return {"v": v, "M": M.reshape(B, H * H)}
        return (lambda x: {"v": x["v"], "M": x["M"]}), internal
    if name == "dagrnn":
        def internal(ch, x):
            hs = ch[0]["h"]
            for c in ch[1:]:
                hs = hs + c["h"]
            return {"h": ops.relu(x["word"] @ w["W"].T + hs @ w["U"].T + w["b"])}
        return (lambda x: {"h": ops.relu(x["word"] @ w["W"].T + w["b"])}), internal
    raise ValueError(f"no reference equations for model {name!r}")


def run_reference(model, batch, ops=None):
    """(len(batch), output size): the root output state of each structure, computed node by node
    in post-order (a plain recursion, without Python's recursion limit)."""
    ops = ops or NumpyOps()
    leaf, internal = cells(model, ops)
    tables = {k: ops.asarray(v) for k, v in model.inputs.items()}
    zero = {s: ops.asarray(np.zeros((1, size), np.float32)) for s, size in model.states.items()}
    child, word, roots = concat([to_arrays(x) for x in batch], model.max_children)
    states = {}
    for root in roots:
        stack = [int(root)]
        while stack:
            i = stack[-1]
            if i in states:
                stack.pop()
                continue
            todo = [int(c) for c in child[i] if c >= 0 and int(c) not in states]
            if todo:
                stack.extend(todo)
                continue
            stack.pop()
            x = {k: t[int(word[i]):int(word[i]) + 1] if word[i] >= 0 else t[:1] * 0 for k, t in tables.items()}
            if np.all(child[i] < 0):
                states[i] = leaf(x)
            else:
                states[i] = internal([states[int(c)] if c >= 0 else zero for c in child[i]], x)
    return [states[int(r)][model.output] for r in roots]


def reference(model, batch):
    """run_reference with numpy, stacked into one (len(batch), size) float32 array."""
    return np.concatenate(run_reference(model, batch)).astype(np.float32)
