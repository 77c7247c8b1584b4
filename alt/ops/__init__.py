"""Operators (compute definitions) with numpy references, default and hand schedules, and the
standard single-operator benchmark suite."""
from . import reference
from .conv import conv, conv2d_nchw, conv2d_transpose_nchw, depthwise_conv2d_nchw
from .default import default_schedule, schedule_stage
from .gpu import gpu_schedule
from .hand import conv2d_tiled, matmul_packed, matmul_tiled
from .nn import (add, avg_pool2d, batch_matmul, batch_norm, bias_add, clip, dense, gelu, global_avg_pool2d,
                 layer_norm, layout_transform, matmul, max_pool2d, multiply, norm, pad, relu, reshape, scale, softmax,
                 transpose)
from .suite import Workload, suite
from .winograd import conv2d_winograd, schedule_winograd, winograd_weight

__all__ = ["add", "avg_pool2d", "batch_matmul", "batch_norm", "bias_add", "clip", "gelu", "reshape", "scale",
           "transpose", "conv", "conv2d_nchw", "conv2d_tiled",
           "conv2d_transpose_nchw", "default_schedule", "dense", "depthwise_conv2d_nchw", "global_avg_pool2d", "gpu_schedule",
           "layer_norm", "layout_transform", "matmul", "matmul_packed", "matmul_tiled", "max_pool2d", "multiply", "norm", "pad",
           "reference", "relu", "schedule_stage", "softmax", "suite", "Workload",
           "conv2d_winograd", "schedule_winograd", "winograd_weight"]
