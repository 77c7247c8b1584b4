"""The reference semantics: a plain per-node numpy recursion over each structure, with the models'
equations written out again (independently of their cells)."""
import numpy as np

from .structure import concat, to_arrays


def _sig(x):
    return 1.0 / (1.0 + np.exp(-x))


def _cells(model):
    """(leaf(word), internal(children states, word)) of a model, in numpy. A state is a dict."""
    w, t, name = model.weights, model.inputs, model.name
    H = next(iter(model.states.values()))
    zero = {s: np.zeros(size, np.float32) for s, size in model.states.items()}
    if name == "treefc":
        return (lambda x: {"h": t["word"][x]},
                lambda ch, x: {"h": np.maximum(w["W"] @ np.concatenate([ch[0]["h"], ch[1]["h"]]) + w["b"], 0)})
    if name == "treegru":
        def leaf(x):
            e = t["word"][x]
            z = _sig(w["W_zh"][:H] @ e + w["b_rz"][H:])
            return {"h": (1 - z) * np.tanh(w["W_zh"][H:] @ e + w["b_h"])}

        def internal(ch, x):
            hlr = ch[0]["h"] + ch[1]["h"]
            r = _sig(w["U_rz"][:H] @ hlr + w["b_rz"][:H])
            z = _sig(w["U_rz"][H:] @ hlr + w["b_rz"][H:])
            g = np.tanh(w["U_h"] @ (r * hlr) + w["b_h"])
            return {"h": (1 - z) * g + z * hlr}
        return leaf, internal
    if name == "treelstm":
        def tail(iou, fc):
            i, o, u = _sig(iou[:H]), _sig(iou[H:2 * H]), np.tanh(iou[2 * H:])
            c = i * u + fc
            return {"h": o * np.tanh(c), "c": c}

        def internal(ch, x):
            (l, r) = ch
            iou = w["U_iou"] @ (l["h"] + r["h"]) + w["b_iou"]
            fl, fr = _sig(w["U_f"] @ l["h"] + w["b_f"]), _sig(w["U_f"] @ r["h"] + w["b_f"])
            return tail(iou, fl * l["c"] + fr * r["c"])
        return (lambda x: tail(w["W_iou"] @ t["word"][x] + w["b_iou"], 0.0)), internal
    if name == "mvrnn":
        def internal(ch, x):
            (l, r) = ch
            Ml, Mr = l["M"].reshape(H, H), r["M"].reshape(H, H)
            v = np.tanh(w["W_v"] @ np.concatenate([Mr @ l["v"], Ml @ r["v"]]) + w["b_v"])
            M = w["W_M"] @ np.concatenate([Ml, Mr]) + w["b_M"][:, None]
            return {"v": v, "M": M.ravel()}
        return (lambda x: {"v": t["v"][x], "M": t["M"][x]}), internal
    if name == "dagrnn":
        def internal(ch, x):
            hs = sum(c["h"] for c in ch)
            return {"h": np.maximum(w["W"] @ t["word"][x] + w["U"] @ hs + w["b"], 0)}
        return (lambda x: {"h": np.maximum(w["W"] @ t["word"][x] + w["b"], 0)}), internal
    raise ValueError(f"no numpy reference for model {name!r}")


def run_reference(model, batch):
    """(len(batch), output size): the root output state of each structure, node by node."""
    leaf, internal = _cells(model)
    zero = {s: np.zeros(size, np.float32) for s, size in model.states.items()}
    child, word, roots = concat([to_arrays(x) for x in batch], model.max_children)
    states = {}
    for root in roots:
        stack = [int(root)]
        while stack:  # iterative post-order: a node is computed once all its children are
            i = stack[-1]
            if i in states:
                stack.pop()
                continue
            kids = [int(c) for c in child[i] if c >= 0]
            todo = [c for c in kids if c not in states]
            if todo:
                stack.extend(todo)
                continue
            stack.pop()
            if not kids:
                states[i] = leaf(int(word[i]))
            else:
                ch = [states[int(c)] if c >= 0 else zero for c in child[i]]
                states[i] = internal(ch, int(word[i]))
    return np.stack([states[int(r)][model.output] for r in roots]).astype(np.float32)
