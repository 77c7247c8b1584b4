"""A network's tuning tasks, and the scheduler that shares one trial budget among them.

A task is one distinct layout-sensitive workload of a network (a conv2d shape, a dense, a matmul,
a batch matmul) with the nodes that compute it; its weight is how many nodes do. Workloads are
named as `alt tune OP --shape ...` names them, so records are shared between the two.

The scheduler is Ansor's gradient-based task scheduler, simplified: the network's latency is
f = sum_i w_i g_i (g_i: task i's best latency so far, w_i: its weight). After one warm-up round
(every task gets a batch), each round goes to the task whose next trials are expected to lower f
the most: w_i * (alpha * (recent drop of g_i per trial) + (1 - alpha) * g_i / t_i), the second
term (Ansor's optimistic one) saying that a task tuned for t_i trials may still lose g_i / t_i per
trial. A share `eps` of the rounds goes to a task drawn at random, so none starves.
"""
from dataclasses import dataclass, field

from alt.errors import OptionError
from alt.ops import Workload
from alt.ops.suite import check_workload


@dataclass
class Task:
    workload: Workload
    nodes: list = field(default_factory=list)  # names of the graph nodes computing it

    @property
    def weight(self):
        return len(self.nodes)


def _square(v):
    return len(set(v)) == 1


def workload_of(node):
    """The suite workload a graph node computes (alt.ops.Workload), or None when the node is not
    layout-sensitive or has no suite operator of its shape (a non-square convolution)."""
    ins = [v.shape for v in node.inputs]
    a = node.attrs
    if node.op == "conv2d":
        (n, c, h, w), (o, _, kh, kw) = ins[0], ins[1]
        if not (h == w and kh == kw and all(_square(a[k]) for k in ("stride", "padding", "dilation"))):
            return None
        s, p, d, g = a["stride"][0], a["padding"][0], a["dilation"][0], a["groups"]
        if g == 1:
            op, params = ("C2D", (n, c, h, o, kh, s, p)) if d == 1 else ("DIL", (n, c, h, o, kh, s, p, d))
        elif g == c == o and d == 1:
            op, params = "DEP", (n, c, h, kh, s, p)
        else:
            op, params = "GRP", (n, c, h, o, kh, s, p, d, g)
    elif node.op == "dense" and len(ins[0]) == 2 and len(node.inputs) == 3:
        op, params = "DEN", (ins[0][0], ins[1][0], ins[0][1])
    elif node.op == "matmul" and len(ins[0]) == 2:
        op, params = "GMM", (ins[0][0], ins[1][1], ins[0][1])
    elif node.op == "batch_matmul":
        op, params = "BMM", (ins[0][0], ins[0][1], ins[1][2], ins[0][2])
    else:
        return None
    return check_workload(Workload(op, f"{op}-{'x'.join(map(str, params))}", tuple(params)))


def extract_tasks(graph):
    """The distinct layout-sensitive workloads of `graph`, in the order they first occur."""
    from alt.graph import Graph
    if not isinstance(graph, Graph):
        raise OptionError(f"search: the network is {type(graph).__name__} {str(graph)[:40]!r}, not an alt.graph.Graph; "
                          "build one with alt.graph (e.g. alt.graph.zoo.resnet18())")
    tasks = {}
    for node in graph.nodes:
        w = workload_of(node)
        if w is not None:
            tasks.setdefault(w.name, Task(w)).nodes.append(node.name)
    return list(tasks.values())


class TaskScheduler:
    """Which task gets the next round of trials (see the module's doc). Ask `next()`, tell
    `update(i, trials, best_seconds)` after each round; `trials[i]` and `best[i]` are the state."""

    def __init__(self, tasks, budget, batch, rng, alpha=0.2, eps=0.05, done=None, best=None):
        if budget < len(tasks):
            raise OptionError(f"trials={budget}: a network of {len(tasks)} tuning tasks needs at least one trial "
                              f"per task; give trials >= {len(tasks)}")
        self.tasks, self.budget, self.rng, self.alpha, self.eps = tasks, budget, rng, alpha, eps
        self.batch = max(1, min(batch, budget // len(tasks)))
        self.trials = list(done or [0] * len(tasks))
        self.best = list(best or [float("inf")] * len(tasks))
        self.history = [[] for _ in tasks]  # (trials, best seconds) after each round

    @property
    def spent(self):
        return sum(self.trials)

    def next(self):
        """(task index, trials it should reach), or None when the budget is spent."""
        left = self.budget - self.spent
        if left <= 0:
            return None
        warm = [i for i, t in enumerate(self.trials) if t < self.batch]
        if warm:
            i = warm[0]
            return i, self.trials[i] + min(self.batch - self.trials[i], left)
        if self.rng.random() < self.eps:
            i = int(self.rng.integers(len(self.tasks)))
        else:
            i = max(range(len(self.tasks)), key=lambda k: (self.gain(k), -self.trials[k]))
        return i, self.trials[i] + min(self.batch, left)

    def gain(self, i):
        """The expected fall of the network's latency per trial given to task i (seconds)."""
        g, t = self.best[i], max(1, self.trials[i])
        if g == float("inf"):
            return float("inf")  # nothing ran yet: tune it
        h = self.history[i]
        back = (h[-2][1] - h[-1][1]) / max(1, h[-1][0] - h[-2][0]) if len(h) >= 2 else g / t
        return self.tasks[i].weight * (self.alpha * max(0.0, back) + (1 - self.alpha) * g / t)

    def update(self, i, trials, best):
        self.trials[i] = max(self.trials[i], trials)
        self.best[i] = min(self.best[i], best)
        self.history[i].append((self.trials[i], self.best[i]))
