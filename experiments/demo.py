"""The main job: build GEMM and conv2d through alt under three schedules each, check every result
against numpy, and print GFLOP/s next to numpy's in the same run, on the CPU named in the header.

    python -m experiments.demo [--n 1024] [--quick]

  default     alt.ops.default_schedule: what alt does with no schedule written
  hand        the target's hand schedule with the operands kept in their logical layout (GEMM:
              register tiles; conv2d: NCHW, tiled)
  hand+layout the same kind of loops on data laid out for them, ALT's point: GEMM with B packed in
              column panels of the register tile (alt.ops.matmul_packed); conv2d in channel blocks
              of the target's vector width, NCHW{b}c (alt.ops.hand.conv2d_nchwc). The kernel
              reads and writes that layout: the inputs are packed once, outside the timing, as a
              network would hold them (Kernel.pack / Kernel.unpack).
"""
import argparse

import numpy as np

import alt
from alt.ops import reference as ref
from alt.ops.hand import conv2d_nchwc
from alt.target import current
from experiments.timing import check_close, time_callable, time_kernel
from search.cli import whole

SCHEDULES = ("default", "hand", "hand+layout")


def run_checked(s, tensors, arrays, want, what):
    """Build `s`, run it on `arrays` packed into the kernel's layouts, check the last tensor (the
    output) against `want`; returns (seconds per call, relative error)."""
    f = alt.build(s, tensors)
    packed = [f.pack(t, a) for t, a in zip(tensors, arrays)]
    f(*packed)
    err = check_close(f.unpack(tensors[-1], packed[-1]), want, what)
    return time_kernel(f, *packed), err


def gemm(n, schedule):
    A = alt.placeholder((n, n), name="A")
    B = alt.placeholder((n, n), name="B")
    C = alt.ops.matmul(A, B)
    s = alt.create_schedule(C)
    if schedule == "default":
        s = alt.ops.default_schedule(C)
    elif schedule == "hand":
        alt.ops.matmul_tiled(s, C)
    else:
        alt.ops.matmul_packed(s, C)
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
    seconds, err = run_checked(s, [A, B, C], [a, b, np.empty((n, n), np.float32)], ref.matmul(a, b), f"gemm {n}")
    flops = 2.0 * n ** 3
    return f"GEMM {n}^3", flops / seconds / 1e9, flops / time_callable(lambda: a @ b) / 1e9, err


def conv(c_in, hw, c_out, k, stride, pad, schedule):
    X = alt.placeholder((1, c_in, hw, hw), name="X")
    W = alt.placeholder((c_out, c_in, k, k), name="W")
    bias = alt.placeholder((c_out,), name="bias")
    Y = alt.ops.conv2d_nchw(X, W, stride=stride, padding=pad)
    Z = alt.ops.relu(alt.ops.bias_add(Y, bias), name="Z")
    s = alt.create_schedule(Z)
    if schedule == "default":
        s = alt.ops.default_schedule(Z)
    elif schedule == "hand":
        s[Z.op.input_tensors[0]].compute_inline()  # the bias add, into the ReLU
        alt.ops.conv2d_tiled(s, Y)
        alt.ops.schedule_stage(s, s[Z])
    else:
        conv2d_nchwc(s, Y, out=Z)  # bias and ReLU fused into the accumulator's tile
    rng = np.random.default_rng(0)
    x = rng.standard_normal(X.shape, dtype=np.float32)
    w = rng.standard_normal(W.shape, dtype=np.float32)
    b = rng.standard_normal(bias.shape, dtype=np.float32)

    def numpy_cbr():
        return ref.relu(ref.bias_add(ref.conv2d_nchw(x, w, stride, pad), b))

    seconds, err = run_checked(s, [X, W, bias, Z], [x, w, b, np.empty(Z.shape, np.float32)], numpy_cbr(), "conv2d")
    flops = 2.0 * c_out * c_in * k * k * Z.shape[2] * Z.shape[3]
    name = f"conv2d+bias+relu {c_in}x{hw}x{hw} -> {c_out} k{k} s{stride}"
    return name, flops / seconds / 1e9, flops / time_callable(numpy_cbr) / 1e9, err


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=whole(1), default=1024, help="GEMM size (default 1024)")
    p.add_argument("--quick", action="store_true", help="small sizes: GEMM 256^3, 28x28 images (seconds)")
    args = p.parse_args(argv)
    n, hw = (min(args.n, 256), 28) if args.quick else (args.n, 56)
    workloads = [lambda sch: gemm(n, sch), lambda sch: conv(64, hw, 64, 3, 1, 1, sch),
                 lambda sch: conv(3, 4 * hw, 64, 7, 2, 3, sch)]
    rows = [(schedule,) + w(schedule) for w in workloads for schedule in SCHEDULES]
    print(f"on {current().describe()}")
    print(f"{'workload':42} {'schedule':11} {'alt GFLOP/s':>11} {'numpy GFLOP/s':>13} {'alt/numpy':>9} {'rel err':>8}")
    for schedule, name, g_alt, g_np, err in rows:
        print(f"{name:42} {schedule:11} {g_alt:11.1f} {g_np:13.1f} {g_alt / g_np:9.2f} {err:8.1e}")
    print("numpy conv2d is an einsum per kernel tap (numpy has no convolution); every alt result was "
          "checked against numpy before timing.")
    return rows


if __name__ == "__main__":
    main()
