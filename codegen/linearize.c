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
