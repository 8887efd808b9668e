#!/usr/bin/env python3
"""Independent PyTorch reference for flame's decoder: loss, logits and parameter gradients.

Written from the model's specification (docs/DESIGN.md, model/config.h, model/model.h), not from
flame's code:
  x = wte[tokens] (+ wpe[pos] for learned positions)
  per block l (pre-norm):
    h   = norm1(x)                                   layernorm (with bias if any) | rmsnorm
    qkv = h @ Wqkv^T + b                             rows of Wqkv: [q heads | k heads | v heads]
    q,k = rope(q), rope(k)                           rotate-half: (x_i, x_{i+D/2}) rotated by
                                                     pos * theta^(-2i/D), pos from the batch
    y   = softmax(q k^T / sqrt(D) + mask) v          GQA: query head h uses kv head h/(Hq/Hkv);
                                                     mask: key s visible to query t iff s <= t
                                                     and seg[s] == seg[t]
    x   = x + y @ Wproj^T + b
    h   = norm2(x)
    x   = x + act(h @ Wfc^T + b) @ Wmlp_proj^T + b   act: gelu (tanh) | swiglu on [gate | up]
  logits = norm_f(x) @ W^T                           W = wte (tied) or lm_head
  loss   = sum(mask * CE(logits, targets)) / sum(mask)

Input: the directory written by the ReferenceExport test (FLAME_REF_DIR, see
tests/model/test_reference_export.cpp), one sub-directory per model: config.json, params.json,
weights.bin, batch.json, and our results cpu.json / cpu_grads.bin / cpu_logits.bin and, when the
export ran with a GPU, gpu.json / gpu_grads.bin / gpu_logits.bin.

Prints, per model and per implementation (cpu, gpu), the relative error of the loss, the logits
and every gradient tensor (||ours - ref|| / ||ref||), and exits non-zero when any exceeds its
tolerance (cpu: fp32 vs the float64 reference; gpu: bf16).

  FLAME_REF_DIR=/tmp/ref ./build/test_model --gtest_filter='ReferenceExport.*'
  python3 tools/torch_reference.py /tmp/ref
"""
import argparse
import json
import math
import pathlib
import sys

import numpy as np
import torch
import torch.nn.functional as F

# (loss, logits, gradient) relative-error tolerances
TOLERANCES = {
    "cpu": (1e-5, 1e-4, 1e-4),  # fp32 against a float64 reference
    "gpu": (1e-2, 2e-2, 3e-2),  # bf16 activations, weights and gradients
}


def load_case(d):
    cfg = json.loads((d / "config.json").read_text())
    index = json.loads((d / "params.json").read_text())
    flat = np.fromfile(d / "weights.bin", dtype="<f4")
    if flat.size != index["num_params"]:
        raise SystemExit(f"{d}: weights.bin holds {flat.size} floats, params.json says "
                         f"{index['num_params']}")
    batch = json.loads((d / "batch.json").read_text())
    return cfg, index["params"], flat, batch


def unflatten(flat, params, dtype):
    """name -> leaf tensor (requires grad), from the flat buffer by offset and shape."""
    out = {}
    for p in params:
        n = int(np.prod(p["shape"]))
        chunk = flat[p["offset"]:p["offset"] + n].reshape(p["shape"])
        out[p["name"]] = torch.tensor(chunk, dtype=dtype, requires_grad=True)
    return out


def forward(cfg, P, batch, dtype):
    """Mean masked cross-entropy and the (B,T,V) logits."""
    B, T = batch["B"], batch["T"]
    C, Hq, Hkv = cfg["d_model"], cfg["n_head"], cfg["n_kv_head"]
    D, L, V, Fd = C // Hq, cfg["n_layer"], cfg["vocab_size"], cfg["d_ff"]
    eps = cfg["norm_eps"]
    tokens = torch.tensor(batch["tokens"], dtype=torch.long)   # (B,T)
    targets = torch.tensor(batch["targets"], dtype=torch.long)  # (B,T)
    pos = torch.tensor(batch["pos"], dtype=torch.long)          # (B,T)
    seg = torch.tensor(batch["seg"], dtype=torch.long)          # (B,T)
    mask = torch.tensor(batch["mask"], dtype=dtype)             # (B,T)

    def norm(x, name):
        w = P[name + ".weight"]
        if cfg["norm"] == "layernorm":
            return F.layer_norm(x, (C,), w, P.get(name + ".bias"), eps)
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w

    def linear(x, name):
        return F.linear(x, P[name + ".weight"], P.get(name + ".bias"))

    # rotate-half RoPE tables from the per-token positions, (B,T,1,D/2)
    half = D // 2
    inv_freq = cfg["rope_theta"] ** (-2.0 * torch.arange(half, dtype=torch.float64) / D)
    angle = pos.to(torch.float64)[..., None] * inv_freq
    cos = torch.cos(angle).to(dtype)[:, :, None, :]
    sin = torch.sin(angle).to(dtype)[:, :, None, :]

    def rope(x):  # (B,T,H,D)
        x1, x2 = x[..., :half], x[..., half:]
        return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)

    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    visible = (causal[None] & (seg[:, :, None] == seg[:, None, :]))[:, None]  # (B,1,T,T)

    x = P["wte"][tokens]  # (B,T,C)
    if cfg["pos"] == "learned":
        x = x + P["wpe"][pos]
    for l in range(L):
        h = f"h.{l}."
        qkv = linear(norm(x, h + "ln1"), h + "attn.qkv")  # (B,T,(Hq+2Hkv)*D)
        q = qkv[..., :Hq * D].reshape(B, T, Hq, D)
        k = qkv[..., Hq * D:(Hq + Hkv) * D].reshape(B, T, Hkv, D)
        v = qkv[..., (Hq + Hkv) * D:].reshape(B, T, Hkv, D)
        if cfg["pos"] == "rope":
            q, k = rope(q), rope(k)
        group = Hq // Hkv  # query head j reads kv head j // group
        k = k.repeat_interleave(group, dim=2)
        v = v.repeat_interleave(group, dim=2)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # (B,Hq,T,D)
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(D)
        scores = scores.masked_fill(~visible, float("-inf"))
        y = torch.softmax(scores, dim=-1) @ v  # (B,Hq,T,D)
        y = y.transpose(1, 2).reshape(B, T, Hq * D)
        x = x + linear(y, h + "attn.proj")
        u = linear(norm(x, h + "ln2"), h + "mlp.fc")
        if cfg["mlp"] == "gelu":
            a = F.gelu(u, approximate="tanh")
        else:
            a = F.silu(u[..., :Fd]) * u[..., Fd:]
        x = x + linear(a, h + "mlp.proj")
    x = norm(x, "ln_f")
    head = P["wte"] if cfg["tie_embeddings"] else P["lm_head.weight"]
    logits = x @ head.T  # (B,T,V)
    ce = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), reduction="none")
    loss = (ce * mask.reshape(-1)).sum() / mask.sum()
    return loss, logits


def rel(a, b):
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    den = np.linalg.norm(b)
    num = np.linalg.norm(a - b)
    return 0.0 if num == 0 else (num / den if den > 0 else math.inf)


def check_case(d, dtype, require_gpu):
    cfg, params, flat, batch = load_case(d)
    P = unflatten(flat, params, dtype)
    loss, logits = forward(cfg, P, batch, dtype)
    loss.backward()
    ref_loss = loss.item()
    ref_logits = logits.detach().numpy()
    print(f"== {d.name}: {cfg['norm']}/{cfg['pos']}/{cfg['mlp']}, tied={cfg['tie_embeddings']}, "
          f"bias={cfg['bias']}, L={cfg['n_layer']} C={cfg['d_model']} Hq={cfg['n_head']} "
          f"Hkv={cfg['n_kv_head']} V={cfg['vocab_size']}; reference loss {ref_loss:.6f} "
          f"({str(dtype).replace('torch.', '')})")
    failures = []
    for impl in ("cpu", "gpu"):
        if not (d / f"{impl}.json").exists():
            msg = f"   {impl}: no results in {d} (export ran without a CUDA device)"
            print(msg)
            if impl == "gpu" and require_gpu:
                failures.append(f"{d.name}/gpu: missing")
            continue
        tol_loss, tol_logits, tol_grad = TOLERANCES[impl]
        ours = json.loads((d / f"{impl}.json").read_text())
        grads = np.fromfile(d / f"{impl}_grads.bin", dtype="<f4")
        our_logits = np.fromfile(d / f"{impl}_logits.bin", dtype="<f4")
        e_loss = abs(ours["loss"] - ref_loss) / abs(ref_loss)
        e_logits = rel(our_logits, ref_logits)
        print(f"   {impl}: loss {ours['loss']:.6f} rel err {e_loss:.2e} (tol {tol_loss:.0e}); "
              f"logits rel err {e_logits:.2e} (tol {tol_logits:.0e})")
        if not e_loss <= tol_loss:
            failures.append(f"{d.name}/{impl}: loss rel err {e_loss:.2e}")
        if not e_logits <= tol_logits:
            failures.append(f"{d.name}/{impl}: logits rel err {e_logits:.2e}")
        worst = 0.0
        for p in params:
            n = int(np.prod(p["shape"]))
            g = grads[p["offset"]:p["offset"] + n]
            ref = P[p["name"]].grad.numpy().ravel()
            e = rel(g, ref)
            worst = max(worst, e)
            flag = "" if e <= tol_grad else "   <-- above tolerance"
            print(f"     {p['name']:<24} |g| {np.linalg.norm(ref):.3e}  rel err {e:.2e}{flag}")
            if not e <= tol_grad:
                failures.append(f"{d.name}/{impl}: {p['name']} grad rel err {e:.2e}")
        print(f"   {impl}: worst gradient rel err {worst:.2e} (tol {tol_grad:.0e})")
    return failures


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("ref_dir", type=pathlib.Path, help="directory written with FLAME_REF_DIR")
    ap.add_argument("--dtype", choices=["float64", "float32"], default="float64",
                    help="precision of the reference (default float64)")
    ap.add_argument("--require-gpu", action="store_true",
                    help="fail when a case has no GPU results")
    args = ap.parse_args()
    dtype = getattr(torch, args.dtype)
    cases = sorted(p.parent for p in args.ref_dir.glob("*/config.json"))
    if not cases:
        raise SystemExit(f"no */config.json under {args.ref_dir}")
    failures = []
    for d in cases:
        failures += check_case(d, dtype, args.require_gpu)
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures))
        return 1
    print(f"OK: {len(cases)} models within tolerance")
    return 0


if __name__ == "__main__":
    sys.exit(main())
