#!/usr/bin/env python3
"""Times torch.nn.functional.scaled_dot_product_attention(is_causal=True) in bf16, forward and
forward + backward, for the shapes of bench/bench_attention.cu, and prints the same line format
(names torch_sdpa_fwd / torch_sdpa_fwd_bwd) so the two can be compared side by side.

FLOP count (causal): forward 2 * 2*B*H*T*T*D / 2, backward 2.5 x forward; % of the device's dense
bf16 peak (H100 / H200 SXM: 989 TFLOP/s). Usage: python3 bench/torch_attention.py [iterations]
"""
import sys

import torch
import torch.nn.functional as F


def peak_tflops(name: str) -> float:
    if any(h in name for h in ("H100", "H200", "H800")):
        return 989.4
    if "A100" in name:
        return 312.0
    return 0.0


def time_ms(step, iters: int) -> float:
    for _ in range(3):
        step()
    start = torch.cuda.Event(enable_timing=True)
    stop = torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(iters):
        step()
    stop.record()
    stop.synchronize()
    return start.elapsed_time(stop) / iters


def report(name, B, H, T, D, ms, flops, peak):
    tflops = flops / (ms * 1e-3) / 1e12
    share = f"({100.0 * tflops / peak:.0f}% of peak)" if peak > 0 else "(peak unknown)"
    print(f"{name} B={B} H={H} T={T} D={D}: {ms:.3f} ms, {tflops:.1f} TFLOP/s {share}", flush=True)


def main():
    iters = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    name = torch.cuda.get_device_name()
    peak = peak_tflops(name)
    print(f"device: {name} (bf16 dense peak {peak:.0f} TFLOP/s); torch {torch.__version__}")
    for B, H, T, D in ((8, 12, 1024, 64), (4, 16, 4096, 128)):
        gen = torch.Generator(device="cuda").manual_seed(0)
        q, k, v = (torch.randn(B, H, T, D, device="cuda", dtype=torch.bfloat16, generator=gen)
                   .requires_grad_() for _ in range(3))
        dout = torch.randn(B, H, T, D, device="cuda", dtype=torch.bfloat16, generator=gen)
        fwd_flops = 2.0 * 2.0 * B * H * T * T * D / 2.0

        def fwd():
            with torch.no_grad():
                F.scaled_dot_product_attention(q, k, v, is_causal=True)

        def fwd_bwd():
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            q.grad = k.grad = v.grad = None
            out.backward(dout)

        report("torch_sdpa_fwd", B, H, T, D, time_ms(fwd, iters), fwd_flops, peak)
        report("torch_sdpa_fwd_bwd", B, H, T, D, time_ms(fwd_bwd, iters), 3.5 * fwd_flops, peak)


if __name__ == "__main__":
    main()
