#!/usr/bin/env bash
# Kill-and-resume check through the binary, on any device: trains a small run uninterrupted, then
# the same run killed with SIGKILL a random time after its first checkpoint and resumed, and
# compares the per-step losses. On the CPU they must be bit-identical (the test
# Resume.KilledAtARandomMomentThenResumedIsBitIdentical checks that in CI); on a GPU the
# tolerance is bf16 noise, so this prints the largest difference and fails above TOL.
# Usage: tools/resume_check.sh [cpu|cuda] [build dir]   (env: TOL, default 0 on cpu, 0.05 on cuda)
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICE=${1:-cpu}
BIN=${2:-build}/flame
TOL=${TOL:-$([ "$DEVICE" = cpu ] && echo 0 || echo 0.05)}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
ARGS=(configs/runs/quickstart.yaml name=resume_check train.device=$DEVICE train.steps=300
      train.log_interval=1 train.eval_interval=0 eval.max_examples=0 train.ckpt_interval=10
      data.train_examples=1000 schedule.warmup_steps=10)
"$BIN" train "${ARGS[@]}" train.out_dir="$W/ref" >"$W/ref.log" 2>&1
"$BIN" train "${ARGS[@]}" train.out_dir="$W/cut" >"$W/cut.log" 2>&1 &
pid=$!
while [ ! -f "$W/cut/resume_check/ckpt/latest" ]; do sleep 0.05; done
sleep "0.$(( RANDOM % 10 ))$(( RANDOM % 10 ))"
kill -9 $pid 2>/dev/null || { echo "resume_check: the run ended before the kill; make it longer"; exit 1; }
wait $pid 2>/dev/null || true
cut_at=$(grep -c '"loss"' "$W/cut/resume_check/metrics.jsonl" || true)
"$BIN" train "${ARGS[@]}" train.out_dir="$W/cut" >"$W/resumed.log" 2>&1
python3 - "$W/ref/resume_check/metrics.jsonl" "$W/cut/resume_check/metrics.jsonl" "$TOL" "$DEVICE" "$cut_at" <<'PY'
import json, sys
ref, res, tol, device, cut_at = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4], sys.argv[5]
load = lambda p: {j["step"]: j["loss"] for j in map(json.loads, open(p)) if "loss" in j}
a, b = load(ref), load(res)
assert sorted(a) == sorted(b), f"steps differ: {len(a)} vs {len(b)}"
diff = max(abs(a[s] - b[s]) for s in a)
print(f"resume_check {device}: killed after {cut_at} logged steps, {len(a)} steps compared, "
      f"max |loss diff| {diff:.3g} (tolerance {tol:g})")
sys.exit(0 if diff <= tol else 1)
PY
