"""The reference: run a graph with torch.nn.functional, node by node, on the same weights."""
import numpy as np

from .opdefs import OPS


def run_torch(graph, *inputs):
    """Outputs (numpy) of `graph` for numpy `inputs`, computed by PyTorch eager."""
    import torch
    env = {id(v): torch.from_numpy(np.ascontiguousarray(a, np.float32)) for v, a in zip(graph.inputs, inputs)}
    env.update({id(p): torch.from_numpy(p.data) for p in graph.params})
    with torch.inference_mode():
        for n in graph.nodes:
            env[id(n.output)] = OPS[n.op].torch(torch, [env[id(v)] for v in n.inputs], n.attrs)
    return [env[id(v)].contiguous().numpy() for v in graph.outputs]
