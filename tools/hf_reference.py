#!/usr/bin/env python3
"""Checks flame's Hugging Face interop against transformers itself, in both directions.

For each tiny random model (Llama with GQA, Llama with biases and tied embeddings, Mistral,
GPT-2 tied and untied, Qwen2 with GQA and tied with MQA), with every parameter drawn at random
(norm gains and biases included, so a misplaced tensor shows):
  1. transformers builds it and saves it (safetensors);
  2. `flame import-hf` converts it; `flame logits --all` gives flame's logits for a token
     sequence, compared with transformers' logits for the same tokens;
  3. `flame export-hf` writes it back (f32, then bf16) as the expected model_type (Mistral
     exports as Llama); transformers loads the export with
     AutoModelForCausalLM.from_pretrained and its logits are compared with the original's.
Prints one line per check with the max relative logit error, max|a - b| / max|b|, and exits
non-zero when any exceeds its tolerance (f32: 1e-4, summation order only; bf16 export: 5e-2).

  python3 tools/hf_reference.py --flame build/flame [--keep /tmp/hfref]

Needs torch, transformers and safetensors (pip install torch transformers safetensors).
"""
import argparse
import json
import pathlib
import shutil
import subprocess
import sys
import tempfile

import torch
import transformers
from transformers import (AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel, LlamaConfig,
                          LlamaForCausalLM, MistralConfig, MistralForCausalLM, Qwen2Config,
                          Qwen2ForCausalLM)

TOL_F32 = 1e-4
TOL_BF16 = 5e-2
VOCAB = 320  # >= 258 so the byte tokenizer import-hf falls back to fits the vocabulary
TOKENS = [1, 17, 300, 5, 42, 42, 7, 250, 3, 99, 0, 319]


def models():
    """(name, transformers model, model_type export-hf writes) triples, small and random."""
    out = []
    common = dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                  num_attention_heads=4, max_position_embeddings=64, rms_norm_eps=1e-6)
    out.append(("llama_gqa", LlamaForCausalLM(LlamaConfig(
        num_key_value_heads=2, rope_theta=500000.0, tie_word_embeddings=False, **common)),
        "llama"))
    out.append(("llama_bias_tied", LlamaForCausalLM(LlamaConfig(
        num_key_value_heads=4, attention_bias=True, mlp_bias=True, tie_word_embeddings=True,
        **common)), "llama"))
    out.append(("mistral", MistralForCausalLM(MistralConfig(
        num_key_value_heads=1, sliding_window=None, tie_word_embeddings=False, **common)),
        "llama"))
    gpt2 = dict(vocab_size=VOCAB, n_embd=64, n_layer=2, n_head=4, n_positions=32,
                resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=0, eos_token_id=0)
    out.append(("gpt2_tied", GPT2LMHeadModel(GPT2Config(**gpt2)), "gpt2"))
    out.append(("gpt2_untied_ninner", GPT2LMHeadModel(GPT2Config(
        n_inner=80, tie_word_embeddings=False, **gpt2)), "gpt2"))
    # Qwen2: biases on q/k/v only (flame's qkv_bias). The sliding-window keys are set as Qwen2
    # checkpoints ship them (a window shorter than the context, switched off).
    qwen2 = dict(common, use_sliding_window=False, sliding_window=16, max_window_layers=1)
    out.append(("qwen2_gqa", Qwen2ForCausalLM(Qwen2Config(
        num_key_value_heads=2, rope_theta=1000000.0, tie_word_embeddings=False, **qwen2)),
        "qwen2"))
    out.append(("qwen2_tied_mqa", Qwen2ForCausalLM(Qwen2Config(
        num_key_value_heads=1, tie_word_embeddings=True, **qwen2)), "qwen2"))
    return out


def randomize(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.empty(p.shape).uniform_(-0.3, 0.3, generator=g))
    return model.eval()


def hf_logits(model):
    with torch.no_grad():
        return model(torch.tensor([TOKENS])).logits[0].float()


def rel_err(a, b):
    return float((a - b).abs().max() / b.abs().max())


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, cmd))} failed ({r.returncode}):\n{r.stderr}")
    return r.stdout


def load_hf(path):
    try:
        return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    except TypeError:  # transformers < 4.56 spells it torch_dtype
        return AutoModelForCausalLM.from_pretrained(path, torch_dtype=torch.float32).eval()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--flame", default="build/flame", help="the flame binary")
    ap.add_argument("--keep", help="work in this directory and keep it (default: a temporary one)")
    args = ap.parse_args()
    flame = str(pathlib.Path(args.flame).resolve())
    work = pathlib.Path(args.keep or tempfile.mkdtemp(prefix="flame_hfref_"))
    if args.keep:
        shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, work dir {work}")

    failures = []
    results = {}

    def check(name, what, err, tol):
        ok = err <= tol
        print(f"{name:20s} {what:34s} max rel err {err:.3e}  (tol {tol:g})  {'ok' if ok else 'FAIL'}")
        results.setdefault(name, {})[what] = err
        if not ok:
            failures.append(f"{name}: {what}")

    for i, (name, model, export_type) in enumerate(models()):
        model = randomize(model, 1000 + i)
        ref = hf_logits(model)
        hf_dir, flame_dir = work / f"{name}_hf", work / f"{name}_flame"
        model.save_pretrained(hf_dir)
        run([flame, "import-hf", str(hf_dir), "--out", str(flame_dir)])
        out = json.loads(run([flame, "logits", "--model", str(flame_dir), "--all",
                              "--tokens", ",".join(map(str, TOKENS))]))
        ours = torch.tensor(out["logits"], dtype=torch.float32)
        check(name, "HF -> flame logits", rel_err(ours, ref), TOL_F32)

        for dtype, tol in (("f32", TOL_F32), ("bf16", TOL_BF16)):
            exp_dir = work / f"{name}_export_{dtype}"
            run([flame, "export-hf", str(flame_dir), "--out", str(exp_dir), "--dtype", dtype])
            got_type = json.loads((exp_dir / "config.json").read_text())["model_type"]
            if got_type != export_type:
                print(f"{name:20s} export-hf wrote model_type {got_type} "
                      f"(expected {export_type})  FAIL")
                failures.append(f"{name}: exported model_type {got_type}")
            back = hf_logits(load_hf(exp_dir))
            check(name, f"flame -> HF ({dtype}) logits vs original", rel_err(back, ref), tol)
            if dtype == "f32":
                check(name, "flame -> HF (f32) logits vs flame", rel_err(back, ours), TOL_F32)

    (work / "results.json").write_text(json.dumps(results, indent=2))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    if failures:
        print("FAILED: " + ", ".join(failures))
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
