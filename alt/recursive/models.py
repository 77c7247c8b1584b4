"""The five recursive models of Cortex's evaluation (../shared/PAPERS.md section 2), with seeded
random weights of any hidden size, declared as alt cells. Leaves carry the word inputs and
internal nodes none (x = 0 there), as in constituency-tree models; a missing child reads as zeros.

    model = alt.recursive.models.tree_lstm(hidden=256, vocab=20000, seed=0)
"""
import numpy as np

from .. import expr as E
from ..tensor import compute, reduce_axis
from .model import ModelError, RecursiveModel

MAX_HIDDEN = 16384
MAX_TABLE = 1 << 30  # vocabulary x hidden floats of one input table (4 GiB)


def _rng(model, hidden, vocab, seed, row=None):
    """The seeded generator of a zoo model's weights, once its sizes are checked: whole numbers,
    hidden units at most MAX_HIDDEN and input tables of at most MAX_TABLE floats, a word's `row`
    floats (default hidden) a row (past those, numpy would fail to allocate or take minutes
    drawing the weights)."""
    import numbers
    for name, v, least in (("hidden", hidden, 1), ("vocab", vocab, 1), ("seed", seed, 0)):
        if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < least:
            raise ModelError(f"model {model}: {name}={v!r}; give a whole number >= {least}")
    row = hidden if row is None else row(hidden)
    if hidden > MAX_HIDDEN or row * vocab > MAX_TABLE:
        raise ModelError(f"model {model}: hidden={hidden} with vocab={vocab} is too large; give hidden <= {MAX_HIDDEN} "
                         f"and at most {MAX_TABLE} floats in an input table (here vocab x {row})")
    return np.random.default_rng(seed)


def _weights(rng, shapes):
    return {k: (rng.standard_normal(shape) / np.sqrt(shape[-1] if len(shape) > 1 else 1)).astype("f4") * (
        1.0 if len(shape) > 1 else 0.1) for k, shape in shapes.items()}


def _mv(rows, out, size, fn, name):
    """out[n, j] = sum over k < size of fn(n, j, k): one batched matrix product of a cell."""
    k = reduce_axis(size, "k")
    return compute((rows, out), lambda n, j: E.sum_(fn(n, j, k), axis=k), name=name)


def _gates(rows, gates, out, size, fn, name):
    """out[n, g, j] = sum over k < size of fn(n, g, j, k): several gates of the same hidden units,
    with the hidden axis last (so that a block of hidden units needs only its own gate columns)."""
    k = reduce_axis(size, "k")
    return compute((rows, gates, out), lambda n, g, j: E.sum_(fn(n, g, j, k), axis=k), name=name)


def tree_fc(hidden=256, vocab=1000, seed=0):
    """Leaf: h = Emb[word]. Internal: h = relu(W [h_l; h_r] + b)."""
    rng = _rng("treefc", hidden, vocab, seed)
    H = int(hidden)
    w = _weights(rng, {"W": (H, 2 * H), "b": (H,)})
    emb = rng.standard_normal((vocab, H)).astype("f4")

    def leaf(c):
        return {"h": c.input("word")}

    def internal(c):
        hl, hr, W, b = c.child(0), c.child(1), c.weight("W"), c.weight("b")
        pre = _mv(c.rows, H, H, lambda n, j, k: W[j, k] * hl[n, k] + W[j, H + k] * hr[n, k], "pre")
        return {"h": compute((c.rows, H), lambda n, j: E.max_(pre[n, j] + b[j], 0.0), name="h")}
    return RecursiveModel("treefc", "tree", 2, {"h": H}, leaf, internal, w, {"word": emb})


def tree_gru(hidden=256, vocab=1000, seed=0):
    """Internal (x = 0): h_lr = h_l + h_r, r = sigma(U_r h_lr + b_r), z = sigma(U_z h_lr + b_z),
    g = tanh(U_h (r * h_lr) + b_h), h = (1 - z) g + z h_lr. Leaf (h_lr = 0): z = sigma(W_z x + b_z),
    g = tanh(W_h x + b_h), h = (1 - z) g."""
    rng = _rng("treegru", hidden, vocab, seed)
    H = int(hidden)
    w = _weights(rng, {"U_rz": (2 * H, H), "U_h": (H, H), "W_zh": (2 * H, H), "b_rz": (2 * H,), "b_h": (H,)})
    emb = rng.standard_normal((vocab, H)).astype("f4")

    def leaf(c):
        x, W, b_rz, b_h = c.input("word"), c.weight("W_zh"), c.weight("b_rz"), c.weight("b_h")
        zh = _gates(c.rows, 2, H, H, lambda n, g, j, k: W[g * H + j, k] * x[n, k], "zh")
        return {"h": compute((c.rows, H), lambda n, j: (1.0 - E.sigmoid(zh[n, 0, j] + b_rz[H + j])) *
                             E.tanh(zh[n, 1, j] + b_h[j]), name="h")}

    def internal(c):
        hl, hr, U_h = c.child(0), c.child(1), c.weight("U_h")
        b_rz, b_h = c.weight("b_rz"), c.weight("b_h")
        hlr = compute((c.rows, H), lambda n, j: hl[n, j] + hr[n, j], name="hlr")
        # U_r h_lr and U_z h_lr (U_rz's two halves, each read by one stage): refactorable, U h_l + U h_r
        r, zpre = c.project((0, 1), "U_rz", rows=(0, H)), c.project((0, 1), "U_rz", rows=(H, 2 * H))
        rh = compute((c.rows, H), lambda n, j: E.sigmoid(r[n, j] + b_rz[j]) * hlr[n, j], name="rh")
        g = _mv(c.rows, H, H, lambda n, j, k: U_h[j, k] * rh[n, k], "g")

        def h(n, j):
            z = E.sigmoid(zpre[n, j] + b_rz[H + j])
            return (1.0 - z) * E.tanh(g[n, j] + b_h[j]) + z * hlr[n, j]
        return {"h": compute((c.rows, H), h, name="h")}
    return RecursiveModel("treegru", "tree", 2, {"h": H}, leaf, internal, w, {"word": emb})


def tree_lstm(hidden=256, vocab=1000, seed=0):
    """Binary child-sum TreeLSTM. Internal (x = 0): i, o, u = sigma, sigma, tanh(U_iou (h_l + h_r) + b_iou),
    f_k = sigma(U_f h_k + b_f), c = i u + f_l c_l + f_r c_r, h = o tanh(c). Leaf (no children):
    i, o, u from W_iou x + b_iou, c = i u, h = o tanh(c)."""
    rng = _rng("treelstm", hidden, vocab, seed)
    H = int(hidden)
    w = _weights(rng, {"W_iou": (3 * H, H), "U_iou": (3 * H, H), "U_f": (H, H), "b_iou": (3 * H,), "b_f": (H,)})
    emb = rng.standard_normal((vocab, H)).astype("f4")

    def tail(c, iou, b, fc=None):
        def cell_c(n, j):
            i, u = E.sigmoid(iou[n, 0, j] + b[j]), E.tanh(iou[n, 2, j] + b[2 * H + j])
            return i * u + (fc(n, j) if fc else 0.0)
        cc = compute((c.rows, H), cell_c, name="c")
        h = compute((c.rows, H), lambda n, j: E.sigmoid(iou[n, 1, j] + b[H + j]) * E.tanh(cc[n, j]), name="h")
        return {"h": h, "c": cc}

    def leaf(c):
        x, W = c.input("word"), c.weight("W_iou")
        iou = _gates(c.rows, 3, H, H, lambda n, g, j, k: W[g * H + j, k] * x[n, k], "iou")
        return tail(c, iou, c.weight("b_iou"))

    def internal(c):
        hl, hr, cl, cr = c.child(0, "h"), c.child(1, "h"), c.child(0, "c"), c.child(1, "c")
        U, b_f = c.weight("U_iou"), c.weight("b_f")
        hlr = compute((c.rows, H), lambda n, k: hl[n, k] + hr[n, k], name="hlr")
        iou = _gates(c.rows, 3, H, H, lambda n, g, j, k: U[g * H + j, k] * hlr[n, k], "iou")
        fl, fr = c.project(0, "U_f", "h"), c.project(1, "U_f", "h")  # U_f h_k: refactorable
        return tail(c, iou, c.weight("b_iou"), lambda n, j: E.sigmoid(fl[n, j] + b_f[j]) * cl[n, j] +
                    E.sigmoid(fr[n, j] + b_f[j]) * cr[n, j])
    return RecursiveModel("treelstm", "tree", 2, {"h": H, "c": H}, leaf, internal, w, {"word": emb})


def mv_rnn(hidden=64, vocab=100, seed=0):
    """Every node has a vector v and a matrix M (H x H). Leaf: v, M from the word's tables.
    Internal: v = tanh(W_v [M_r v_l; M_l v_r] + b_v), M = W_M [M_l; M_r] + b_M (b_M added to each row)."""
    rng = _rng("mvrnn", hidden, vocab, seed, row=lambda h: h * h)
    H = int(hidden)
    w = _weights(rng, {"W_v": (H, 2 * H), "W_M": (H, 2 * H), "b_v": (H,), "b_M": (H,)})
    tables = {"v": rng.standard_normal((vocab, H)).astype("f4"),
              "M": (np.eye(H, dtype="f4")[None] + rng.standard_normal((vocab, H, H)).astype("f4") / np.sqrt(H)
                    ).reshape(vocab, H * H)}

    def leaf(c):
        xm = c.input("M")
        return {"v": c.input("v"), "M": compute((c.rows, H, H), lambda n, i, j: xm[n, i * H + j], name="M")}

    def internal(c):
        vl, vr, Ml, Mr = c.child(0, "v"), c.child(1, "v"), c.child(0, "M"), c.child(1, "M")
        W_v, W_M, b_v, b_M = c.weight("W_v"), c.weight("W_M"), c.weight("b_v"), c.weight("b_M")
        a = _mv(c.rows, H, H, lambda n, i, k: Mr[n, i, k] * vl[n, k], "a")
        b = _mv(c.rows, H, H, lambda n, i, k: Ml[n, i, k] * vr[n, k], "b")
        pre = _mv(c.rows, H, H, lambda n, i, k: W_v[i, k] * a[n, k] + W_v[i, H + k] * b[n, k], "pre")
        v = compute((c.rows, H), lambda n, i: E.tanh(pre[n, i] + b_v[i]), name="v")
        k = reduce_axis(H, "k")
        M = compute((c.rows, H, H), lambda n, i, j: E.sum_(W_M[i, k] * Ml[n, k, j] + W_M[i, H + k] * Mr[n, k, j],
                                                             axis=k), name="M")
        return {"v": v, "M": compute((c.rows, H, H), lambda n, i, j: M[n, i, j] + b_M[i], name="Mb")}
    return RecursiveModel("mvrnn", "tree", 2, {"v": H, "M": (H, H)}, leaf, internal, w, tables, output="v")


def dag_rnn(hidden=256, vocab=1000, seed=0):
    """A TreeFC-like cell over DAG predecessors (at most 2, e.g. a grid's up and left neighbours):
    h = relu(W x + U (h_p0 + h_p1) + b); every node has an input; sources have no predecessors."""
    rng = _rng("dagrnn", hidden, vocab, seed)
    H = int(hidden)
    w = _weights(rng, {"W": (H, H), "U": (H, H), "b": (H,)})
    emb = rng.standard_normal((vocab, H)).astype("f4")

    def leaf(c):
        x, W, b = c.input("word"), c.weight("W"), c.weight("b")
        pre = _mv(c.rows, H, H, lambda n, j, k: W[j, k] * x[n, k], "pre")
        return {"h": compute((c.rows, H), lambda n, j: E.max_(pre[n, j] + b[j], 0.0), name="h")}

    def internal(c):
        # one product of [W U] by [x; h_p0 + h_p1]: as cell.project (refactorable) U's product would be a
        # reduction of its own, 10-20% slower here, and refactored no faster (each node has few successors)
        x, p0, p1 = c.input("word"), c.child(0), c.child(1)
        W, U, b = c.weight("W"), c.weight("U"), c.weight("b")
        p = compute((c.rows, H), lambda n, k: p0[n, k] + p1[n, k], name="p")
        pre = _mv(c.rows, H, H, lambda n, j, k: W[j, k] * x[n, k] + U[j, k] * p[n, k], "pre")
        return {"h": compute((c.rows, H), lambda n, j: E.max_(pre[n, j] + b[j], 0.0), name="h")}
    return RecursiveModel("dagrnn", "dag", 2, {"h": H}, leaf, internal, w, {"word": emb})


MODELS = {"treefc": tree_fc, "treegru": tree_gru, "treelstm": tree_lstm, "mvrnn": mv_rnn, "dagrnn": dag_rnn}
