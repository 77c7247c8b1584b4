"""A graph of alt.graph run by PyTorch the ways users run it: eager (NCHW or channels_last) and
torch.compile (Inductor), with the weights converted once, outside the timed call."""
import time

import numpy as np

from alt.graph.opdefs import OPS


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
