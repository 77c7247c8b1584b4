"""Input structures of recursive models, in plain Python, turned into child arrays.

A structure of n nodes becomes `child`, an (n, k) int32 array of child indices (-1 where a node has
fewer than k children), and `word`, an (n,) int32 array of per-node input indices (-1: none).
Accepted forms:
- a tree as nested tuples: a leaf is its word index (an int), an internal node a tuple of subtrees;
- a tree as a parent-pointer array `Tree(parent, word)` (parent -1 at the root), converted with
  vectorized numpy;
- a DAG as an adjacency list `DAG(preds, word)`: preds[i] lists the nodes node i depends on.
A batch is a list of structures; `concat` joins their arrays with offsets.
"""
import itertools
from dataclasses import dataclass

import numpy as np

from ..errors import AltError


class StructureError(AltError, ValueError):
    """A tree or DAG given to a recursive model is malformed."""


@dataclass(frozen=True)
class Tree:
    """A tree as a parent-pointer array: parent[i] is node i's parent, -1 at the root; word[i] is its
    input index (-1 for none, e.g. internal nodes of a parse tree)."""
    parent: np.ndarray
    word: np.ndarray


@dataclass(frozen=True)
class DAG:
    """A DAG as an adjacency list: preds[i] lists the nodes that node i reads (its "children")."""
    preds: list
    word: np.ndarray


def from_nested(tree, what="tree"):
    """(child, word) arrays of a nested-tuple tree; children keep their order (0 = leftmost)."""
    child, word = [], []

    def visit(t):
        i = len(word)
        word.append(-1)
        child.append(None)
        if isinstance(t, (tuple, list)):
            if not t:
                raise StructureError(f"{what}: node {i} is an empty tuple; an internal node needs children and a "
                                     "leaf is a word index (int)")
            child[i] = [visit(c) for c in t]
        elif isinstance(t, (int, np.integer)) and not isinstance(t, bool):
            word[i] = int(t)
            child[i] = []
        else:
            raise StructureError(f"{what}: node {i}: {t!r} is neither a word index (int) nor a tuple of subtrees")
        return i
    stack_limit = 500  # Python recursion; deeper trees come as parent arrays
    if _depth(tree, stack_limit) >= stack_limit:
        raise StructureError(f"{what}: a nested tree deeper than {stack_limit}; give it as Tree(parent, word) "
                             "instead")
    visit(tree)
    k = max(len(c) for c in child)
    arr = np.full((len(word), max(k, 1)), -1, np.int32)
    for i, cs in enumerate(child):
        arr[i, :len(cs)] = cs
    return arr, np.asarray(word, np.int64)  # int64: an index past int32 is reported, not wrapped


def _depth(t, limit):
    depth, level = 0, [t]
    while level and depth < limit:
        level = [c for x in level if isinstance(x, (tuple, list)) for c in x]
        depth += 1
    return depth


def from_parents(parent, word, what="tree"):
    """(child, word) arrays of a parent-pointer tree, vectorized: children in increasing index order."""
    parent = np.asarray(parent)
    word = np.asarray(word)
    n = len(parent) if parent.ndim == 1 else -1
    if parent.ndim != 1 or word.shape != (n,):
        raise StructureError(f"{what}: parent and word must be 1-d arrays of the same length, got shapes "
                             f"{parent.shape} and {word.shape}")
    if not np.issubdtype(parent.dtype, np.integer) or not np.issubdtype(word.dtype, np.integer):
        raise StructureError(f"{what}: parent and word must be integer arrays, got {parent.dtype} and {word.dtype}")
    bad = np.flatnonzero((parent < -1) | (parent >= n) | (parent == np.arange(n)))
    if bad.size:
        i = int(bad[0])
        raise StructureError(f"{what}: node {i} has parent {int(parent[i])}; a parent must be another node "
                             f"in [0, {n}) or -1 for the root")
    roots = np.flatnonzero(parent == -1)
    if roots.size != 1:
        raise StructureError(f"{what}: {roots.size} roots (nodes with parent -1); a tree has exactly one")
    has = parent >= 0
    kids = np.flatnonzero(has)
    order = kids[np.argsort(parent[kids], kind="stable")]
    par = parent[order]
    first = np.searchsorted(par, par, side="left")  # index in `order` of each parent's first child
    slot = np.arange(len(order)) - first
    k = int(slot.max()) + 1 if len(order) else 1
    child = np.full((n, k), -1, np.int32)
    child[par, slot] = order
    return child, word


def from_adjacency(preds, word, what="DAG"):
    """(child, word) arrays of an adjacency list: vectorized when every entry is a list of ints in
    range, else node by node, to name the first bad entry."""
    if isinstance(preds, (str, bytes)) or not hasattr(preds, "__len__"):
        raise StructureError(f"{what}: preds is a {type(preds).__name__}; expected a list of lists of node indices")
    n = len(preds)
    word = np.asarray(word)
    if word.shape != (n,) or not np.issubdtype(word.dtype, np.integer):
        raise StructureError(f"{what}: word must be an integer array of {n} entries (one per node), got "
                             f"{word.dtype} {word.shape}")
    fast = _adjacency_arrays(preds, n)
    if fast is not None:
        return fast, word
    k = max((len(p) for p in preds if hasattr(p, "__len__")), default=0)
    child = np.full((n, max(k, 1)), -1, np.int32)
    for i, p in enumerate(preds):
        if not isinstance(p, (list, tuple, np.ndarray)):
            raise StructureError(f"{what}: preds[{i}] is {p!r}; expected a list of the node indices node {i} reads")
        for j, c in enumerate(p):
            if not isinstance(c, (int, np.integer)) or isinstance(c, bool) or not 0 <= c < n:
                raise StructureError(f"{what}: node {i} reads node {c!r}; nodes are numbered 0..{n - 1}")
            child[i, j] = c
    return child, word


def _adjacency_arrays(preds, n):
    """The child array of a list of lists of plain ints in [0, n), built with numpy; None for
    anything else (the node-by-node path then names it)."""
    if not set(map(type, preds)) <= {list, tuple}:
        return None
    lens = np.fromiter(map(len, preds), np.int64, n)
    flat = list(itertools.chain.from_iterable(preds))
    if flat and not set(map(type, flat)) <= {int}:
        return None
    idx = np.array(flat, np.int64) if flat else np.zeros(0, np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        return None
    k = int(lens.max()) if n else 0
    child = np.full((n, max(k, 1)), -1, np.int32)
    rows = np.repeat(np.arange(n), lens)
    child[rows, np.arange(idx.size) - np.repeat(np.cumsum(lens) - lens, lens)] = idx
    return child


INDEX_MAX = 2 ** 31 - 1  # the C side reads child and word indices as int


def checked(child, word, what="structure"):
    """(child, word) as C-contiguous int32 arrays, after checking them once: child an (n, k) integer
    array of node indices in [-1, n), word an (n,) integer array of input indices in [-1, 2**31), n >= 1.
    Anything else is a StructureError naming `what`, the array and what was expected."""
    for name, a, ndim in (("child", child, 2), ("word", word, 1)):
        if not isinstance(a, np.ndarray):
            raise StructureError(f"{what}: the {name} array is a {type(a).__name__}; expected a numpy integer "
                                 "array")
        if a.dtype == bool or not np.issubdtype(a.dtype, np.integer):
            raise StructureError(f"{what}: the {name} array has dtype {a.dtype}; expected integers (e.g. int32)")
        if a.ndim != ndim:
            want = "(nodes, children)" if ndim == 2 else "(nodes,)"
            raise StructureError(f"{what}: the {name} array has shape {a.shape}; expected {want}")
    n = len(word)
    if n == 0:
        raise StructureError(f"{what}: it has no nodes; every structure of a batch needs at least one")
    if child.shape[0] != n or child.shape[1] < 1:
        raise StructureError(f"{what}: the child array has shape {child.shape} but the word array has {n} "
                             f"entries; expected child of shape ({n}, k) with k >= 1")
    for name, a, hi in (("child", child, n - 1), ("word", word, INDEX_MAX)):
        lo_v, hi_v = int(a.min()), int(a.max())
        if lo_v < -1 or hi_v > hi:
            i = int(np.flatnonzero((a < -1) | (a > hi))[0]) // (a.shape[1] if a.ndim == 2 else 1)
            bad = lo_v if lo_v < -1 else hi_v
            raise StructureError(f"{what}: node {i} has {name} index {bad}; expected -1 (none) or an index in "
                                 f"[0, {hi}]")
    return (np.ascontiguousarray(child, np.int32), np.ascontiguousarray(word, np.int32))


def to_arrays(structure, what="structure"):
    """(child, word) of any accepted structure, checked (see `checked`)."""
    if isinstance(structure, Tree):
        return checked(*from_parents(structure.parent, structure.word, what), what)
    if isinstance(structure, DAG):
        return checked(*from_adjacency(structure.preds, structure.word, what), what)
    if isinstance(structure, tuple) and len(structure) == 2 and all(isinstance(a, np.ndarray) for a in structure):
        return checked(*structure, what)
    return checked(*from_nested(structure, what), what)


def concat(arrays, k):
    """One (child, word, roots) for a batch of (child, word) pairs, children padded to k columns.
    `roots` are the batch's structures' last-computed nodes: for a tree its root, for a DAG its sinks'
    last node (the highest-numbered node that nothing reads)."""
    if not arrays:
        raise StructureError("an empty batch; give at least one tree or DAG")
    n_total = sum(len(w) for _, w in arrays)
    child = np.full((n_total, k), -1, np.int32)
    words, roots, off = [], [], 0
    for j, (c, w) in enumerate(arrays):
        if c.shape[1] > k and np.any(c[:, k:] >= 0):
            i = int(np.flatnonzero(np.any(c[:, k:] >= 0, axis=1))[0])
            raise StructureError(f"structure {j} of the batch: node {i} has {int(np.sum(c[i] >= 0))} children; "
                                 f"this model allows at most {k}")
        m = min(k, c.shape[1])
        child[off:off + len(w), :m] = np.where(c[:, :m] >= 0, c[:, :m] + off, -1)
        read = np.zeros(len(w), bool)
        read[c[c >= 0]] = True
        roots.append(off + int(np.flatnonzero(~read)[-1]) if not read.all() else off + len(w) - 1)
        words.append(w)
        off += len(w)
    return child, np.concatenate(words), np.asarray(roots, np.int32)
