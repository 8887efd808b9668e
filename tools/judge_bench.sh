#!/usr/bin/env bash
# flame judge throughput over 1,000 pairs on the CPU and (when built and present) the GPU: trains
# a short quickstart run for a checkpoint, writes 1,000 pairs of 8-40-word prompts and
# responses, judges them on each device and prints one line per device:
#   judge_bench <device>: <pairs/s> pairs/s (1000 pairs, both orders scored)
# then judges the first 64 pairs with --explain 32 on each device (greedy KV-cache decoding; on
# the GPU batched over the model's rows) and prints the explanation throughput on one line:
#   judge_bench explain: <device> <items/s> items/s; ... (64 items, up to 32 tokens each)
# Usage: tools/judge_bench.sh [build dir] [devices...]   (default: build, cpu cuda)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-build}/flame
shift || true
DEVICES=("$@")
[ ${#DEVICES[@]} -eq 0 ] && DEVICES=(cpu cuda)
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
"$BIN" train configs/runs/quickstart.yaml name=judge_bench train.steps=40 schedule.warmup_steps=5 \
  train.eval_interval=0 eval.max_examples=0 train.out_dir="$W" >"$W/train.log" 2>&1
python3 - "$W/pairs.jsonl" <<'PY'
import json, random, sys
rng = random.Random(7)
words = "the a model answer question good bad helpful harmful correct wrong because why how".split()
say = lambda lo, hi: " ".join(rng.choice(words) for _ in range(rng.randint(lo, hi)))
with open(sys.argv[1], "w") as f:
    for i in range(1000):
        f.write(json.dumps({"id": i, "prompt": say(8, 40), "chosen": say(8, 40),
                            "rejected": say(8, 40)}) + "\n")
PY
for d in "${DEVICES[@]}"; do
  if "$BIN" judge --model "$W/judge_bench" --input "$W/pairs.jsonl" --output "$W/out_$d.jsonl" \
      --device "$d" 2>"$W/judge_$d.log"; then
    rate=$(grep -o '[0-9.]* items/s' "$W/judge_$d.log" | cut -d' ' -f1)
    echo "judge_bench $d: $rate pairs/s (1000 pairs, both orders scored)"
  else
    echo "judge_bench $d: not run ($(tail -1 "$W/judge_$d.log"))"
  fi
done
head -n 64 "$W/pairs.jsonl" >"$W/explain.jsonl"
line="judge_bench explain:"
for d in "${DEVICES[@]}"; do
  if "$BIN" judge --model "$W/judge_bench" --input "$W/explain.jsonl" --explain 32 \
      --output "$W/explain_$d.jsonl" --device "$d" 2>"$W/explain_$d.log"; then
    rate=$(grep -o '[0-9.]* explained items/s' "$W/explain_$d.log" | cut -d' ' -f1)
    line+=" $d $rate items/s;"
  else
    line+=" $d not run ($(tail -1 "$W/explain_$d.log"));"
  fi
done
echo "$line (64 items, up to 32 tokens each)"
