#!/usr/bin/env python3
"""PyTorch baselines for the flame CUDA benchmarks, same shapes and the same output line format

    <op> <shape> <dtype>: <ms> ms, <GB/s> GB/s (<pct>% of peak)

so one table can be built from both outputs. GB/s uses the SAME minimum-traffic byte counts as
the bench_*.cu programs (see their headers), so the column compares time directly even where
PyTorch moves more bytes (e.g. the fp32 upcast of the logits).

  layernorm_fwd_bwd      F.layer_norm forward + backward, 16384 x 768 bf16
  adamw_step             torch.optim.AdamW(fused=True).step() on 124M fp32 params (fp32 grads)
  cross_entropy_fwd_bwd  F.cross_entropy forward + backward on fp32-upcast bf16 logits,
                         16384 x 50304, a quarter of the targets ignored (ignore_index)

Usage: python bench/torch_ops.py    (needs a CUDA build of PyTorch)
"""
import torch
import torch.nn.functional as F

WARMUPS, REPEATS = 5, 20


def peak_bandwidth():
    """Datasheet DRAM bandwidth in bytes/s by device name (H100 SXM 3.35 TB/s, H200 4.8 TB/s)."""
    name = torch.cuda.get_device_name()
    if "H200" in name:
        return 4.8e12
    if "H100" in name:
        return 3.35e12
    return 0.0


def time_ms(fn, warmups=WARMUPS, repeats=REPEATS):
    for _ in range(warmups):
        fn()
    start = torch.cuda.Event(enable_timing=True)
    stop = torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(repeats):
        fn()
    stop.record()
    torch.cuda.synchronize()
    return start.elapsed_time(stop) / repeats


def report(op, shape, dtype, ms, nbytes):
    gbs = nbytes / (ms * 1e-3) / 1e9
    peak = peak_bandwidth()
    pct = f"{100.0 * gbs * 1e9 / peak:.1f}% of peak" if peak else "peak unknown"
    print(f"{op} {shape} {dtype}: {ms:.3f} ms, {gbs:.1f} GB/s ({pct})", flush=True)


def bench_layernorm():
    N, C = 16384, 768
    x = torch.empty(N, C, device="cuda", dtype=torch.bfloat16).uniform_(-2, 2).requires_grad_()
    w = torch.empty(C, device="cuda", dtype=torch.bfloat16).uniform_(0.5, 1.5).requires_grad_()
    b = torch.empty(C, device="cuda", dtype=torch.bfloat16).uniform_(-0.5, 0.5).requires_grad_()
    dout = torch.empty(N, C, device="cuda", dtype=torch.bfloat16).uniform_(-1, 1)

    def step():
        y = F.layer_norm(x, (C,), w, b, 1e-5)
        y.backward(dout)

    ms = time_ms(step, 10, 100)
    nc = N * C
    stats, params = N * 8, C * 2 * 2
    # same byte count as bench_layernorm.cu's layernorm_fwd_bwd
    report("layernorm_fwd_bwd", f"{N}x{C}", "bf16", ms, nc * 12 + 2 * stats + 3 * params)


def bench_adamw():
    n = 124475904
    p = torch.nn.Parameter(torch.empty(n, device="cuda", dtype=torch.float32).uniform_(-0.1, 0.1))
    p.grad = torch.empty_like(p).uniform_(-1e-2, 1e-2)
    opt = torch.optim.AdamW([p], lr=6e-4, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1,
                            fused=True)
    ms = time_ms(opt.step)
    report("adamw_step", "124M", "fp32", ms, n * 28)
    del opt, p
    torch.cuda.empty_cache()


def bench_cross_entropy():
    N, V = 16384, 50304
    logits = torch.empty(N, V, device="cuda", dtype=torch.bfloat16).uniform_(-8, 8)
    logits.requires_grad_()
    targets = (torch.arange(N, device="cuda", dtype=torch.int64) * 2654435761) % V
    targets[::4] = -100  # a quarter masked, as in bench_cross_entropy.cu

    def step():
        loss = F.cross_entropy(logits.float(), targets, ignore_index=-100)
        loss.backward()
        logits.grad = None

    ms = time_ms(step, 3, 20)
    report("cross_entropy_fwd_bwd", f"{N}x{V}", "bf16->fp32", ms, N * V * 4 + N * 12)


def main():
    assert torch.cuda.is_available(), "needs a CUDA device"
    print(f"# device: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    bench_layernorm()
    bench_adamw()
    bench_cross_entropy()


if __name__ == "__main__":
    main()
