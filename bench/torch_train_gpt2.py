#!/usr/bin/env python3
"""PyTorch baseline for bench/bench_train_gpt2.cu: the same GPT-2 small (124M, vocab 50304,
T = 1024, tied embeddings) training step on random tokens, in the usual PyTorch recipe: fp32
parameters with bf16 autocast, SDPA causal attention (flash), fused AdamW (weight decay on the
matrices and embeddings only, as flame), grad-norm clipping at 1.0. Eager and torch.compile.
Prints one line per mode in bench_train_gpt2's format,

    torch_eager_gpt2_124m B=16 T=1024: 123456 tok/s, peak 23.4 GiB
    torch_compile_gpt2_124m B=16 T=1024: 123456 tok/s, peak 23.4 GiB

peak = torch.cuda.max_memory_allocated() (what the allocator handed out, CUDA context excluded,
comparable to the allocations bench_train_gpt2 reports). Time: wall clock over the timed steps
after the warmup (compilation happens in the warmup), between two synchronisations.

Usage: python3 bench/torch_train_gpt2.py [--batch 16] [--steps 10] [--warmup 3]
                                         [--mode both|eager|compile]
About 1-2 minutes on an H100/H200 with the defaults (most of it torch.compile's compilation).
"""
import argparse
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# configs/models/gpt2-124m.yaml
N_LAYER, N_HEAD, D_MODEL, D_FF, VOCAB, MAX_SEQ = 12, 12, 768, 3072, 50304, 1024
VOCAB_REAL = 50257  # tokens are drawn below this, as in bench_train_gpt2


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1 = nn.LayerNorm(D_MODEL, eps=1e-5)
        self.qkv = nn.Linear(D_MODEL, 3 * D_MODEL)
        self.proj = nn.Linear(D_MODEL, D_MODEL)
        self.ln2 = nn.LayerNorm(D_MODEL, eps=1e-5)
        self.fc = nn.Linear(D_MODEL, D_FF)
        self.fc_proj = nn.Linear(D_FF, D_MODEL)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=-1)
        q, k, v = (t.view(B, T, N_HEAD, C // N_HEAD).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(y.transpose(1, 2).reshape(B, T, C))
        return x + self.fc_proj(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = nn.Embedding(VOCAB, D_MODEL)
        self.wpe = nn.Embedding(MAX_SEQ, D_MODEL)
        self.blocks = nn.ModuleList(Block() for _ in range(N_LAYER))
        self.ln_f = nn.LayerNorm(D_MODEL, eps=1e-5)
        # GPT-2 init (as flame's Model::init_weights): N(0, 0.02), residual output projections
        # N(0, 0.02/sqrt(2L)), zero biases, unit gains
        for name, p in self.named_parameters():
            if name.endswith(".bias"):
                nn.init.zeros_(p)
            elif p.dim() == 1:
                nn.init.ones_(p)
            else:
                std = 0.02 / math.sqrt(2 * N_LAYER) if name.endswith(("proj.weight",)) else 0.02
                nn.init.normal_(p, 0.0, std)

    def forward(self, idx, targets):
        T = idx.shape[1]
        x = self.wte(idx) + self.wpe(torch.arange(T, device=idx.device))
        for block in self.blocks:
            x = block(x)
        logits = F.linear(self.ln_f(x), self.wte.weight)  # tied head
        return F.cross_entropy(logits.float().view(-1, VOCAB), targets.view(-1))


def bench(mode, B, T, steps, warmup):
    torch.manual_seed(0)
    model = GPT().cuda()
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=6e-4, betas=(0.9, 0.95), eps=1e-8, fused=True)
    fwd = torch.compile(model) if mode == "compile" else model
    g = torch.Generator(device="cuda").manual_seed(42)
    x = torch.randint(0, VOCAB_REAL, (B, T), device="cuda", generator=g)
    y = torch.randint(0, VOCAB_REAL, (B, T), device="cuda", generator=g)

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = fwd(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    t_start = time.perf_counter()
    first = step().item()
    for _ in range(warmup - 1):
        step()
    torch.cuda.synchronize()
    warm_s = time.perf_counter() - t_start
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = step()
    torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    peak = torch.cuda.max_memory_allocated() / 2**30
    print(f"torch_{mode}_gpt2_124m B={B} T={T}: {B * T * steps / dt:.0f} tok/s, peak {peak:.1f} GiB")
    print(f"# {dt * 1e3 / steps:.2f} ms/step over {steps} steps ({warmup} warmup, {warm_s:.1f} s); "
          f"loss {first:.4f} (step 1) -> {loss.item():.4f}", flush=True)
    del model, opt, fwd
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--mode", choices=["both", "eager", "compile"], default="both")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("torch_train_gpt2: no CUDA device", file=sys.stderr)
        return 1
    torch.backends.cuda.matmul.allow_tf32 = True
    print(f"# device: {torch.cuda.get_device_name()}, torch {torch.__version__}", flush=True)
    status = 0
    for mode in (["eager", "compile"] if args.mode == "both" else [args.mode]):
        try:
            bench(mode, args.batch, MAX_SEQ, args.steps, max(1, args.warmup))
        except Exception as e:  # report and go on to the other mode
            print(f"torch_{mode}_gpt2_124m: failed: {type(e).__name__}: {e}", flush=True)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
