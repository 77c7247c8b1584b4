"""A graph of alt.graph run by PyTorch the ways users run it: eager (NCHW or channels_last) and
torch.compile (Inductor), with the weights converted once, outside the timed call.

    net = TorchNetwork(graph, "compile")     # built, compiled and run in a process of its own
    y = net(x)                               # numpy in, [numpy] out; net.compile_s
    seconds = net.time(x)
    net.close()

TorchNetwork is what the experiments time: PyTorch in a fresh process, as a user runs it, not in
the experiment's, where alt's builds had left the heap in a state that made PyTorch's own
allocations fault (experiments.isolated says how much). TorchGraph runs in the calling process.
"""
import time

import numpy as np

from alt.graph.opdefs import OPS
from experiments.isolated import Remote


class TorchGraph:
    """`net(x)` (numpy in, numpy out) runs `graph` in PyTorch. `mode`: "eager", "channels_last"
    (4-d activations and weights in torch.channels_last) or "compile" (torch.compile of the eager
    function; the first call compiles, `compile_s` says how long it took)."""

    def __init__(self, torch, graph, mode="eager"):
        self.torch, self.graph, self.mode = torch, graph, mode
        last = mode == "channels_last"
        self.params = {id(p): self._fmt(torch.from_numpy(p.data), last) for p in graph.params}
        self.fn = torch.compile(self._forward) if mode == "compile" else self._forward
        self.compile_s = 0.0

    def _fmt(self, t, last):
        return t.contiguous(memory_format=self.torch.channels_last) if last and t.ndim == 4 else t

    def _forward(self, *xs):
        env = dict(self.params)
        env.update({id(v): x for v, x in zip(self.graph.inputs, xs)})
        for n in self.graph.nodes:
            env[id(n.output)] = OPS[n.op].torch(self.torch, [env[id(v)] for v in n.inputs], n.attrs)
        return [env[id(v)] for v in self.graph.outputs]

    def tensors(self, *arrays):
        """The inputs as torch tensors in this mode's memory format (convert once, then time)."""
        last = self.mode == "channels_last"
        return [self._fmt(self.torch.from_numpy(np.ascontiguousarray(a, np.float32)), last) for a in arrays]

    def run(self, *tensors):
        with self.torch.inference_mode():
            return self.fn(*tensors)

    def warm(self, *tensors):
        """The first call (torch.compile compiles here); its seconds go to compile_s."""
        t0 = time.perf_counter()
        self.run(*tensors)
        if self.mode == "compile":
            self.compile_s = time.perf_counter() - t0

    def __call__(self, *arrays):
        out = self.run(*self.tensors(*arrays))
        return [o.contiguous().numpy() for o in out]


class TorchModule:
    """TorchGraph as a network the experiments time (the child side of TorchNetwork): PyTorch on
    `threads` threads, compiled (mode "compile") by a first call on zeros."""

    def __init__(self, graph, mode, threads):
        import torch
        torch.set_num_threads(threads)
        self.tg = TorchGraph(torch, graph, mode)
        self.tg.warm(*self.tg.tensors(*[np.zeros(v.shape, np.float32) for v in graph.inputs]))
        self.compile_s = self.tg.compile_s

    def __call__(self, *arrays):
        return self.tg(*arrays)

    def time(self, *arrays, repeat=5):
        from experiments.timing import time_callable
        ts = self.tg.tensors(*arrays)
        return time_callable(lambda: self.tg.run(*ts), repeat=repeat)


class TorchNetwork(Remote):
    """`graph` run by PyTorch in `mode` (TorchGraph's) in a process of its own, on as many threads as
    the target in effect has cores (alt's kernels use as many); `compile_s`: torch.compile's first
    call (0 in the eager modes)."""

    keep = ("compile_s",)

    def __init__(self, graph, mode="eager", threads=None):
        from alt.target import current
        super().__init__(__name__, "TorchModule", graph, mode, threads or current().cores,
                         what=f"PyTorch {mode} on {graph.name}")
