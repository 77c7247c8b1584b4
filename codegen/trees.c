/* Tree inputs straight to C, so that no Python walks a structure on the latency path.
 *
 * alt_parse_nested: a nested-tuple tree as Python's repr() prints it ("((1, 2), 3)"; lists too)
 *   into parent[] and word[] in preorder (a node before its children, children left to right),
 *   the numbering alt.recursive.structure.from_nested gives. Returns the number of nodes, or -1
 *   for text it does not accept (anything but brackets, commas, spaces and int32 integers;
 *   more than `cap` nodes; unbalanced brackets; not exactly one tree) and -2 for an empty tuple.
 *   The caller then takes the Python path, which names what is wrong.
 *
 * alt_tree_children: m parent-pointer trees, one after the other (structure j is nodes
 *   starts[j] .. starts[j+1]-1, parents numbered within it, -1 at its root), checked and turned into
 *   child[n*k] (global indices, children in increasing index order, -1 for none) and roots[m].
 *   Returns 0, or with *bad_node set (a node, numbered across the batch; for -12 a structure):
 *   -11 a parent out of range or the node itself, -12 not exactly one root, -13 more than k
 *   children, -14 a word index below -1 or, when vocab > 0, not below vocab.
 *   starts may be NULL for one tree (m = 1). count: n ints of scratch. */
int alt_parse_nested(const char* s, int len, int* parent, int* word, int cap) {
  int n = 0, cur = -1, tops = 0;
  for (int i = 0; i < len; ++i) {
    char c = s[i];
    if (c == ' ' || c == ',') continue;
    if (c == '(' || c == '[') {
      if (n >= cap) return -1;
      parent[n] = cur;
      word[n] = -1;
      tops += cur < 0;
      cur = n++;
    } else if (c == ')' || c == ']') {
      if (cur < 0) return -1;
      if (n - 1 == cur) return -2;  /* no child since it opened */
      cur = parent[cur];
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      int neg = c == '-';
      long long v = 0;
      if (neg) ++i;
      if (i >= len || s[i] < '0' || s[i] > '9') return -1;
      for (; i < len && s[i] >= '0' && s[i] <= '9'; ++i) {
        v = v * 10 + (s[i] - '0');
        if (v > 2147483647LL) return -1;
      }
      --i;
      if (n >= cap) return -1;
      parent[n] = cur;
      word[n] = (int)(neg ? -v : v);
      tops += cur < 0;
      ++n;
    } else {
      return -1;
    }
  }
  if (cur >= 0 || tops != 1) return -1;
  return n;
}

static int alt_tree_children(int n, int m, int k, const int* parent, const int* starts, const int* word, int vocab,
                             int* child, int* roots, int* count, int* bad_node) {
  for (int i = 0; i < n; ++i) {
    count[i] = 0;
    if (word[i] < -1 || (vocab > 0 && word[i] >= vocab)) { *bad_node = i; return -14; }
  }
  for (int i = 0; i < n * k; ++i) child[i] = -1;
  for (int j = 0; j < m; ++j) {
    int s = starts ? starts[j] : 0, e = starts ? starts[j + 1] : n, root = -1;
    for (int i = s; i < e; ++i) {
      int p = parent[i];
      if (p == -1) {
        if (root >= 0) { *bad_node = j; return -12; }
        root = i;
        continue;
      }
      if (p < -1 || p >= e - s || p == i - s) { *bad_node = i; return -11; }
      p += s;
      if (count[p] == k) { *bad_node = p; return -13; }
      child[p * k + count[p]++] = i;
    }
    if (root < 0) { *bad_node = j; return -12; }
    roots[j] = root;
  }
  return 0;
}
