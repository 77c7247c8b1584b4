"""Baselines for recursive models, on the same weights as alt's models:
- TorchEager: PyTorch eager, one small operator call per node, recursion in Python;
- TorchBatched: PyTorch with dynamic batching written by hand: heights in numpy, then one batched
  cell per level (gather the children's states, run the cell, scatter);
- Dynet: DyNet with its automatic batching (pip install dynet38), one expression per node.
Each is called as f(batch) and returns (len(batch), output size) numpy float32.
"""
import numpy as np

from alt.recursive.reference import cells, run_reference
from alt.recursive.structure import concat, to_arrays
from experiments.timing import torch_threads


class TorchOps:
    def __init__(self):
        import torch
        self.torch = torch
        self.sig, self.tanh, self.relu = torch.sigmoid, torch.tanh, torch.relu
        self.cat = lambda xs, axis: torch.cat(xs, dim=axis)
        self.asarray = lambda a: torch.from_numpy(np.ascontiguousarray(a))


class TorchEager:
    def __init__(self, model):
        self.model, self.ops = model, TorchOps()
        torch_threads(self.ops.torch)

    def __call__(self, batch):
        with self.ops.torch.inference_mode():
            return self.ops.torch.cat(run_reference(self.model, batch, self.ops)).numpy()


def heights(child):
    """Height of every node (leaves 0), one vectorized numpy step per level."""
    has = child >= 0
    safe = np.where(has, child, 0)
    h = np.where(has.any(1), -1, 0)
    level = 0
    while (h < 0).any():
        level += 1
        done = np.where(has, h[safe] >= 0, True).all(1)
        ready = (h < 0) & done
        if not ready.any():
            raise ValueError("the structure has a cycle")
        h[ready] = level
    return h


class TorchBatched:
    def __init__(self, model):
        self.model, self.ops = model, TorchOps()
        torch = self.ops.torch
        torch_threads(torch)
        self.leaf, self.internal = cells(model, self.ops)
        self.tables = {k: self.ops.asarray(v) for k, v in model.inputs.items()}
        self.zeros = {k: torch.zeros((1, v.shape[1])) for k, v in model.inputs.items()}

    def __call__(self, batch):
        torch = self.ops.torch
        child, word, roots = concat([to_arrays(x) for x in batch], self.model.max_children)
        n = len(word)
        h = heights(child)
        with torch.inference_mode():
            states = {s: torch.zeros((n + 1, size)) for s, size in self.model.states.items()}  # row n: zeros
            kids = torch.from_numpy(np.where(child >= 0, child, n).astype(np.int64))
            words = torch.from_numpy(word.astype(np.int64))
            for level in range(int(h.max()) + 1):
                idx = torch.from_numpy(np.flatnonzero(h == level))
                w = words[idx]
                x = {k: torch.where((w >= 0)[:, None], t[w.clamp(min=0)], self.zeros[k]) for k, t in self.tables.items()}
                if level == 0:
                    out = self.leaf(x)
                else:
                    ch = [{s: st[kids[idx, j]] for s, st in states.items()} for j in range(child.shape[1])]
                    out = self.internal(ch, x)
                for s, st in states.items():
                    st[idx] = out[s]
            return states[self.model.output][torch.from_numpy(roots.astype(np.int64))].numpy()


_dynet = None


def dynet_available():
    global _dynet
    if _dynet is None:
        try:
            import dynet_config
            dynet_config.set(autobatch=1, mem=1024, random_seed=1)
            import dynet
            _dynet = dynet
        except ImportError:
            _dynet = False
    return bool(_dynet)


class Dynet:
    """The five models of Cortex's evaluation in DyNet, with automatic batching."""

    def __init__(self, model):
        if not dynet_available():
            raise RuntimeError("DyNet is not installed (pip install dynet38)")
        dy = _dynet
        self.model, self.dy = model, dy
        self.pc = dy.ParameterCollection()
        self.p = {k: self.pc.parameters_from_numpy(v) for k, v in model.weights.items()}
        self.tables = {k: self.pc.lookup_parameters_from_numpy(v) for k, v in model.inputs.items()}
        self.H = next(iter(model.states.values()))
        self.cell = getattr(self, "_" + model.name)

    def __call__(self, batch):
        dy = self.dy
        dy.renew_cg()
        child, word, roots = concat([to_arrays(x) for x in batch], self.model.max_children)
        memo = {}
        for root in roots:  # post-order, iteratively
            stack = [int(root)]
            while stack:
                i = stack[-1]
                todo = [int(c) for c in child[i] if c >= 0 and int(c) not in memo]
                if todo:
                    stack.extend(todo)
                    continue
                stack.pop()
                if i not in memo:
                    memo[i] = self.cell([memo[int(c)] for c in child[i] if c >= 0], int(word[i]))
        outs = [memo[int(r)][0] for r in roots]
        return dy.concatenate_cols(outs).npvalue().T.reshape(len(roots), -1).astype(np.float32)

    def _treefc(self, ch, w):
        dy, p = self.dy, self.p
        if not ch:
            return (dy.lookup(self.tables["word"], w),)
        return (dy.rectify(p["W"] * dy.concatenate([ch[0][0], ch[1][0]]) + p["b"]),)

    def _treegru(self, ch, w):
        dy, p, H = self.dy, self.p, self.H
        if not ch:
            zh = p["W_zh"] * dy.lookup(self.tables["word"], w)
            z = dy.logistic(dy.pick_range(zh, 0, H) + dy.pick_range(p["b_rz"], H, 2 * H))
            g = dy.tanh(dy.pick_range(zh, H, 2 * H) + p["b_h"])
            return (g - dy.cmult(z, g),)  # (1 - z) g
        hlr = ch[0][0] + ch[1][0]
        rz = dy.logistic(p["U_rz"] * hlr + p["b_rz"])
        r, z = dy.pick_range(rz, 0, H), dy.pick_range(rz, H, 2 * H)
        g = dy.tanh(p["U_h"] * dy.cmult(r, hlr) + p["b_h"])
        return (g + dy.cmult(z, hlr - g),)  # (1 - z) g + z h_lr

    def _treelstm(self, ch, w):
        dy, p, H = self.dy, self.p, self.H
        if not ch:
            iou = p["W_iou"] * dy.lookup(self.tables["word"], w) + p["b_iou"]
            fc = None
        else:
            (hl, cl), (hr, cr) = ch
            iou = p["U_iou"] * (hl + hr) + p["b_iou"]
            fl, fr = dy.logistic(p["U_f"] * hl + p["b_f"]), dy.logistic(p["U_f"] * hr + p["b_f"])
            fc = dy.cmult(fl, cl) + dy.cmult(fr, cr)
        i, o = dy.logistic(dy.pick_range(iou, 0, H)), dy.logistic(dy.pick_range(iou, H, 2 * H))
        u = dy.tanh(dy.pick_range(iou, 2 * H, 3 * H))
        c = dy.cmult(i, u) if fc is None else dy.cmult(i, u) + fc
        return (dy.cmult(o, dy.tanh(c)), c)

    def _dagrnn(self, ch, w):
        dy, p = self.dy, self.p
        pre = p["W"] * dy.lookup(self.tables["word"], w) + p["b"]
        if ch:
            pre = pre + p["U"] * (ch[0][0] if len(ch) == 1 else ch[0][0] + ch[1][0])
        return (dy.rectify(pre),)

    def _mvrnn(self, ch, w):
        dy, p, H = self.dy, self.p, self.H
        if not ch:
            v = dy.lookup(self.tables["v"], w)
            return (v, dy.reshape(dy.lookup(self.tables["M"], w), (H, H), ))
        (vl, Ml), (vr, Mr) = ch
        # tables hold M row-major; DyNet reshapes column-major, so M here is the transpose
        a, b = dy.transpose(Mr) * vl, dy.transpose(Ml) * vr
        v = dy.tanh(p["W_v"] * dy.concatenate([a, b]) + p["b_v"])
        Mt = dy.concatenate_cols([Ml, Mr]) * dy.transpose(p["W_M"]) + dy.transpose(dy.concatenate_cols([p["b_M"]] * H))
        return (v, Mt)
