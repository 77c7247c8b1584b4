/* Linearization of a batch of trees or DAGs (Cortex's host-side pass), in C because at batch
 * size 1 it sits on the latency path.
 *
 * In: n nodes, child[n*k] (child indices, -1 for none), word[n] (input indices, -1 for none).
 * Out (all preallocated by the caller):
 *   newid[n]            old index -> new index
 *   lchild[(n+1)*k]     children in new indices; a missing child is n (the all-zero state row)
 *   lword[n+1]          input index per new node (-1: none)
 *   bstart[n], blen[n]  batch b = the nodes of height b (leaves: b = 0), contiguous in new indices
 *   *nbatch, *first_leaf, *first_const
 * New numbering: nodes sorted by height, tallest first, so internal nodes come first and leaves
 * last (is_leaf(i) is i >= first_leaf), and each batch is one contiguous range; within the leaves,
 * those without input (word -1) come last, from *first_const on.
 * scratch: 3*n + 1 + n*k ints.
 * Returns 0, or a negative code with *bad_node set:
 *   -1 a child index out of range, -2 a tree node with two parents, -3 a cycle. */
static int alt_linearize(int n, int k, int tree, const int* child, const int* word, int* newid, int* lchild,
                         int* lword, int* bstart, int* blen, int* nbatch, int* first_leaf, int* first_const,
                         int* scratch, int* bad_node) {
  int* pending = scratch;          /* children not yet done, per node */
  int* height = scratch + n;
  int* pstart = scratch + 2 * n;   /* CSR of parents: pstart[n+1], then the lists */
  int* plist = scratch + 3 * n + 1;
  int* queue = newid;              /* reused: newid is only written at the end */
  for (int i = 0; i <= n; ++i) pstart[i] = 0;
  for (int i = 0; i < n; ++i) {
    int c_count = 0;
    for (int j = 0; j < k; ++j) {
      int c = child[i * k + j];
      if (c < 0) continue;
      if (c >= n) { *bad_node = i; return -1; }
      pstart[c + 1] += 1;
      c_count += 1;
    }
    pending[i] = c_count;
    height[i] = 0;
  }
  for (int i = 0; i < n; ++i) {
    if (tree && pstart[i + 1] > 1) { *bad_node = i; return -2; }
    pstart[i + 1] += pstart[i];
  }
  /* fill the parent lists (at most n*k entries) */
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < k; ++j) {
      int c = child[i * k + j];
      if (c >= 0) plist[pstart[c]++] = i;
    }
  }
  for (int i = n; i > 0; --i) pstart[i] = pstart[i - 1];
  pstart[0] = 0;
  /* Kahn's algorithm from the leaves up: height = 1 + max height of the children */
  int head = 0, tail = 0;
  for (int i = 0; i < n; ++i)
    if (pending[i] == 0) queue[tail++] = i;
  while (head < tail) {
    int v = queue[head++];
    for (int p = pstart[v]; p < pstart[v + 1]; ++p) {
      int u = plist[p];
      if (height[v] + 1 > height[u]) height[u] = height[v] + 1;
      if (--pending[u] == 0) queue[tail++] = u;
    }
  }
  if (tail < n) {
    for (int i = 0; i < n; ++i)
      if (pending[i] > 0) { *bad_node = i; return -3; }
  }
  /* counting sort by height, tallest first */
  int hmax = 0;
  for (int i = 0; i < n; ++i) if (height[i] > hmax) hmax = height[i];
  for (int h = 0; h <= hmax; ++h) blen[h] = 0;
  for (int i = 0; i < n; ++i) blen[height[i]] += 1;
  int start = 0;
  for (int h = hmax; h >= 0; --h) { bstart[h] = start; start += blen[h]; }
  int* fill = pending;  /* reused */
  for (int h = 0; h <= hmax; ++h) fill[h] = bstart[h];
  int nconst = 0;
  for (int i = 0; i < n; ++i) nconst += height[i] == 0 && word[i] < 0;
  int cfill = bstart[0] + blen[0] - nconst;
  *first_const = cfill;
  for (int i = 0; i < n; ++i) newid[i] = height[i] == 0 && word[i] < 0 ? cfill++ : fill[height[i]]++;
  for (int i = 0; i < n; ++i) {
    int t = newid[i];
    lword[t] = word[i];
    for (int j = 0; j < k; ++j) {
      int c = child[i * k + j];
      lchild[t * k + j] = c < 0 ? n : newid[c];
    }
  }
  for (int j = 0; j < k; ++j) lchild[n * k + j] = n;
  lword[n] = -1;
  *nbatch = hmax + 1;
  *first_leaf = bstart[0];
  return 0;
}

/* The steps the driver runs, in order: ranges of new indices whose nodes are all leaves (kind 0)
 * or all internal (kind 1). Without unrolling: one per height, leaves first, the leaves ending
 * at first_const (the hoisted constant leaves are the driver's step -1). Returns the count. */
static int alt_steps(int nb, const int* bstart, const int* blen, int first_const, int* sstart, int* slen,
                     int* skind) {
  int ns = 0;
  for (int b = 0; b < nb; ++b) {
    int lo = bstart[b], end = b == 0 ? first_const : bstart[b] + blen[b];
    if (end <= lo) continue;
    sstart[ns] = lo; slen[ns] = end - lo; skind[ns] = b > 0; ++ns;
  }
  return ns;
}

/* Unrolling (Cortex): heights are taken `depth` at a time; in each range [lo, top], every tile of
 * `rows` nodes of height top runs right after its descendants of heights lo..top-1 (by height,
 * bottom first), so that a node's children are computed next to it; nodes of the range that no
 * top node reaches within it run first, by height. Trees only (one parent per node). Renumbers the
 * nodes in that order (newid, lchild, lword rewritten in place; the constant leaves
 * [*first_const, end of the leaves) moved last, unchanged in order, *first_const updated) and
 * writes the steps. scratch: (7 + k) * n + k + 1 ints. Returns the number of steps. */
static int alt_unroll(int n, int k, int rows, int depth, int nb, const int* bstart, const int* blen,
                      int* first_const, int* newid, int* lchild, int* lword, int* sstart, int* slen, int* skind,
                      int* scratch) {
  int* parent = scratch;
  int* height = scratch + n;
  int* order = scratch + 2 * n;
  int* inv = scratch + 3 * n;
  int* claimed = scratch + 4 * n;
  int* queue = scratch + 5 * n;
  int* lchild0 = scratch + 6 * n;                 /* (n + 1) * k */
  int* lword0 = scratch + 6 * n + (n + 1) * k;    /* n + 1 */
  int leaf_end = bstart[0] + blen[0], fc = *first_const;
  for (int b = 0; b < nb; ++b)
    for (int i = bstart[b]; i < bstart[b] + blen[b]; ++i) height[i] = b;
  for (int i = 0; i < n; ++i) { parent[i] = -1; claimed[i] = 0; }
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < k; ++j) {
      int c = lchild[i * k + j];
      if (c < n) parent[c] = i;
    }
#define ALT_CONST(i) ((i) >= fc && (i) < leaf_end)
  int cnt = 0, ns = 0;
  for (int lo = 0; lo < nb; lo += depth) {
    int top = lo + depth - 1 < nb - 1 ? lo + depth - 1 : nb - 1;
    /* mark what the top nodes reach within the range */
    int head = 0, tail = 0;
    for (int p = bstart[top]; p < bstart[top] + blen[top]; ++p) queue[tail++] = p;
    while (head < tail) {
      int v = queue[head++];
      for (int j = 0; j < k; ++j) {
        int c = lchild[v * k + j];
        if (c < n && height[c] >= lo && !ALT_CONST(c) && !claimed[c]) { claimed[c] = 1; queue[tail++] = c; }
      }
    }
    for (int h = lo; h < top; ++h) {  /* the unreached nodes, a step per height */
      int s0 = cnt;
      for (int i = bstart[h]; i < bstart[h] + blen[h]; ++i)
        if (!claimed[i] && !ALT_CONST(i)) order[cnt++] = i;
      if (cnt > s0) { sstart[ns] = s0; slen[ns] = cnt - s0; skind[ns] = h > 0; ++ns; }
    }
    for (int t = bstart[top]; t < bstart[top] + blen[top]; t += rows) {
      int e = t + rows < bstart[top] + blen[top] ? t + rows : bstart[top] + blen[top];
      head = tail = 0;
      for (int p = t; p < e; ++p) queue[tail++] = p;
      while (head < tail) {
        int v = queue[head++];
        for (int j = 0; j < k; ++j) {
          int c = lchild[v * k + j];
          if (c < n && height[c] >= lo && claimed[c] == 1) { claimed[c] = 2; queue[tail++] = c; }
        }
      }
      for (int h = lo; h < top; ++h) {
        int s0 = cnt;
        for (int q = e - t; q < tail; ++q)
          if (height[queue[q]] == h) order[cnt++] = queue[q];
        if (cnt > s0) { sstart[ns] = s0; slen[ns] = cnt - s0; skind[ns] = h > 0; ++ns; }
      }
      int s0 = cnt;
      for (int p = t; p < e; ++p) if (!ALT_CONST(p)) order[cnt++] = p;
      if (cnt > s0) { sstart[ns] = s0; slen[ns] = cnt - s0; skind[ns] = top > 0; ++ns; }
    }
  }
  int nconst = leaf_end - fc;
  for (int i = fc; i < leaf_end; ++i) order[cnt++] = i;
#undef ALT_CONST
  for (int q = 0; q < n; ++q) inv[order[q]] = q;
  for (int i = 0; i < (n + 1) * k; ++i) lchild0[i] = lchild[i];
  for (int i = 0; i <= n; ++i) lword0[i] = lword[i];
  for (int i = 0; i < n; ++i) {
    int q = inv[i];
    lword[q] = lword0[i];
    for (int j = 0; j < k; ++j) {
      int c = lchild0[i * k + j];
      lchild[q * k + j] = c < n ? inv[c] : n;
    }
  }
  for (int i = 0; i < n; ++i) newid[i] = inv[newid[i]];
  *first_const = n - nconst;
  return ns;
}
