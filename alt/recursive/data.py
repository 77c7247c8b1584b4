"""Seeded synthetic inputs for recursive models (the Stanford Sentiment Treebank cannot be
downloaded here): binary parse trees with SST's sentence-length distribution, complete binary
trees, and grid DAGs. Every structure is a parent-pointer Tree (root 0) or a DAG."""
import numpy as np

from .structure import DAG, Tree

# SST training sentences: mean about 19 words, standard deviation about 9, 1..56 words
SST_MEAN, SST_STD, SST_MAX = 19.1, 9.3, 56


def sst_lengths(count, rng):
    shape = (SST_MEAN / SST_STD) ** 2
    return np.clip(np.rint(rng.gamma(shape, SST_MEAN / shape, size=count)), 1, SST_MAX).astype(int)


def random_binary_tree(words, rng, vocab):
    """A random binary parse tree over `words` leaves (split points uniform), as a Tree."""
    parent, word = [-1], [-1]
    todo = [(0, words)]  # (node, number of leaves under it)
    while todo:
        node, n = todo.pop()
        if n == 1:
            word[node] = int(rng.integers(vocab))
            continue
        left = int(rng.integers(1, n))
        for size in (left, n - left):
            parent.append(node)
            word.append(-1)
            todo.append((len(parent) - 1, size))
    return Tree(np.asarray(parent, np.int32), np.asarray(word, np.int32))


def sst_like(count, seed=0, vocab=1000):
    """`count` random binary parse trees with SST-like sentence lengths."""
    rng = np.random.default_rng(seed)
    return [random_binary_tree(int(n), rng, vocab) for n in sst_lengths(count, rng)]


def complete(height, seed=0, vocab=1000):
    """A complete binary tree of `height` levels of edges (height 7: 255 nodes), in heap order."""
    n = 2 ** (height + 1) - 1
    parent = np.concatenate([[-1], (np.arange(1, n) - 1) // 2]).astype(np.int32)
    word = np.full(n, -1, np.int32)
    leaves = np.arange(2 ** height - 1, n)
    word[leaves] = np.random.default_rng(seed).integers(vocab, size=len(leaves))
    return Tree(parent, word)


def chain(length, seed=0, vocab=1000):
    """A sequence as a tree with one child per node (the first word is the only leaf)."""
    parent = np.arange(-1, length - 1, dtype=np.int32)
    word = np.full(length, -1, np.int32)
    word[-1] = np.random.default_rng(seed).integers(vocab)
    return Tree(parent, word)


def grid(rows, cols, seed=0, vocab=1000):
    """A rows x cols grid DAG: node (i, j) reads its up (i-1, j) and left (i, j-1) neighbours."""
    preds = [[q for q, ok in (((i - 1) * cols + j, i > 0), (i * cols + j - 1, j > 0)) if ok]
             for i in range(rows) for j in range(cols)]
    word = np.random.default_rng(seed).integers(vocab, size=rows * cols).astype(np.int32)
    return DAG(preds, word)
