"""The main job: build scheduled GEMM and conv2d through alt, check them against numpy, and print
GFLOP/s next to numpy's in the same run.

    python -m experiments.demo
"""
import argparse

import numpy as np

import alt
from alt.ops import reference as ref
from experiments.timing import check_close, time_callable, time_kernel


def gemm(n, hand):
    A = alt.placeholder((n, n), name="A")
    B = alt.placeholder((n, n), name="B")
    C = alt.ops.matmul(A, B)
    s = alt.create_schedule(C)
    if hand:
        alt.ops.matmul_tiled(s, C)
    else:
        s = alt.ops.default_schedule(C)
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
    f = alt.build(s, [A, B, C])
    c = np.empty((n, n), np.float32)
    f(a, b, c)
    err = check_close(c, ref.matmul(a, b), f"gemm {n}")
    flops = 2.0 * n ** 3
    return f"GEMM {n}^3", flops / time_kernel(f, a, b, c) / 1e9, flops / time_callable(lambda: a @ b) / 1e9, err


def conv(c_in, hw, c_out, k, stride, pad, hand):
    X = alt.placeholder((1, c_in, hw, hw), name="X")
    W = alt.placeholder((c_out, c_in, k, k), name="W")
    bias = alt.placeholder((c_out,), name="bias")
    Y = alt.ops.conv2d_nchw(X, W, stride=stride, padding=pad)
    Z = alt.ops.relu(alt.ops.bias_add(Y, bias), name="Z")
    if hand:
        s = alt.create_schedule(Z)
        s[Z.op.input_tensors[0]].compute_inline()  # the bias add, into the ReLU
        alt.ops.conv2d_tiled(s, Y)
        alt.ops.schedule_stage(s, s[Z])
    else:
        s = alt.ops.default_schedule(Z)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(X.shape, dtype=np.float32)
    w = rng.standard_normal(W.shape, dtype=np.float32)
    b = rng.standard_normal(bias.shape, dtype=np.float32)
    f = alt.build(s, [X, W, bias, Z])
    z = np.empty(Z.shape, np.float32)
    f(x, w, b, z)

    def numpy_cbr():
        return ref.relu(ref.bias_add(ref.conv2d_nchw(x, w, stride, pad), b))

    err = check_close(z, numpy_cbr(), "conv2d")
    flops = 2.0 * c_out * c_in * k * k * Z.shape[2] * Z.shape[3]
    name = f"conv2d+bias+relu {c_in}x{hw}x{hw} -> {c_out} k{k} s{stride}"
    return name, flops / time_kernel(f, x, w, b, z) / 1e9, flops / time_callable(numpy_cbr) / 1e9, err


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=1024, help="GEMM size (default 1024)")
    args = p.parse_args(argv)
    rows = []
    for hand in (True, False):
        label = "hand-tiled" if hand else "default"
        for r in (gemm(args.n, hand), conv(64, 56, 64, 3, 1, 1, hand), conv(3, 224, 64, 7, 2, 3, hand)):
            rows.append((r[0], label) + r[1:])
    print(f"{'workload':42} {'schedule':10} {'alt GFLOP/s':>11} {'numpy GFLOP/s':>13} {'alt/numpy':>9} {'rel err':>8}")
    for name, label, g_alt, g_np, err in rows:
        print(f"{name:42} {label:10} {g_alt:11.1f} {g_np:13.1f} {g_alt / g_np:9.2f} {err:8.1e}")
    print("numpy conv2d is an einsum per kernel tap (numpy has no convolution); every alt result was "
          "checked against numpy before timing.")


if __name__ == "__main__":
    main()
