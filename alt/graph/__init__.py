"""Networks: a graph IR built with a functional API, layout planning, and whole-network compilation."""
from .ir import (Graph, Node, Value, add, avg_pool2d, batch_matmul, batch_norm, bias_add, conv2d, dense, gelu,
                 global_avg_pool2d, layer_norm, matmul, max_pool2d, relu, relu6, reshape, scale, softmax, transpose)
from .compile import Network, compile_network, hand_layouts
from .opdefs import OPS
from .plan import Plan
from . import zoo

__all__ = ["Graph", "Network", "Node", "Plan", "Value", "OPS", "compile_network", "hand_layouts", "zoo", "add", "avg_pool2d", "batch_matmul", "batch_norm", "bias_add", "conv2d",
           "dense", "gelu", "global_avg_pool2d", "layer_norm", "matmul", "max_pool2d", "relu", "relu6", "reshape",
           "scale", "softmax", "transpose"]
