#!/usr/bin/env bash
# The one script to run on a lent GPU machine (H100/H200): builds Release for sm_90, runs the CUDA
# tests, the whole-model checks against the CPU and against PyTorch, the kernel benchmarks and the
# end-to-end benchmark next to PyTorch, and prints a short table last. Every phase logs to
# $OUT/<phase>.log (OUT defaults to ./device_out) so a cut-short run still returns what it did.
# Budget: about 8 minutes on an H200. Usage: tools/device_check.sh [phase ...]
# phases: build tests reference bench torch resume hf judge (default: these, in that order), and
# sanitize (compute-sanitizer memcheck + racecheck of the attention kernels; opt-in, up to 5 more
# minutes: tools/device_check.sh sanitize after a build).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/device_out}
mkdir -p "$OUT"
BUILD=build-device
phases=("$@")
[ ${#phases[@]} -eq 0 ] && phases=(build tests reference bench torch resume hf judge)
export FLAME_CUDA_SYNC_TIMEOUT_S=60
status=0

log() { echo "[device_check $(date +%T)] $*" | tee -a "$OUT/summary.log"; }
run_phase() {  # name timeout_s command...
  local name=$1 limit=$2; shift 2
  log "phase $name (limit ${limit}s): $*"
  local t0=$(date +%s)
  timeout "$limit" stdbuf -oL -eL "$@" >>"$OUT/$name.log" 2>&1
  local rc=$?
  log "phase $name rc=$rc in $(( $(date +%s) - t0 ))s"
  [ $rc -ne 0 ] && status=1
  return 0
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >"$OUT/gpu.txt" 2>&1
log "gpu: $(cat "$OUT/gpu.txt")"

for phase in "${phases[@]}"; do
  case $phase in
    build)
      run_phase configure 120 cmake -S . -B $BUILD -G Ninja -DCMAKE_BUILD_TYPE=Release \
        -DFLAME_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90
      run_phase build 420 ninja -C $BUILD -k 0 -j "$(nproc)" test_kernels test_model test_train flame \
        bench_ops bench_train_gpt2 ;;
    tests)
      run_phase cuda_kernels 120 $BUILD/test_kernels --gtest_filter='Cuda*'
      run_phase cuda_model 180 $BUILD/test_model --gtest_filter='CudaModel*'
      run_phase cuda_train 180 $BUILD/test_train --gtest_filter='TrainCuda*:ScoringCuda*:GenerateCuda*' ;;
    reference)
      rm -rf /tmp/flame_ref
      run_phase ref_export 60 env FLAME_REF_DIR=/tmp/flame_ref $BUILD/test_model \
        --gtest_filter='ReferenceExport.*'
      run_phase torch_reference 120 python3 tools/torch_reference.py /tmp/flame_ref --require-gpu ;;
    bench)
      run_phase bench_ops 240 $BUILD/bench_ops
      run_phase bench_e2e 120 $BUILD/bench_train_gpt2 16 20 ;;
    torch)
      run_phase torch_ops 90 python3 bench/torch_ops.py
      run_phase torch_attention 90 python3 bench/torch_attention.py
      run_phase torch_e2e 240 python3 bench/torch_train_gpt2.py --steps 10 ;;
    resume)  # kill-and-resume on the GPU: losses within bf16 noise of an uninterrupted run
      run_phase resume_gpu 240 tools/resume_check.sh cuda $BUILD ;;
    hf)  # transformers <-> flame logits for tiny random Llama and GPT-2 models
      run_phase hf_reference 240 python3 tools/hf_reference.py --flame $BUILD/flame ;;
    judge)  # flame judge over 1,000 pairs: pairs/s on the device's CPU and on the GPU; then
      # --explain over 64 of them: explained items/s on each
      run_phase judge_bench 300 tools/judge_bench.sh $BUILD cpu cuda ;;
    sanitize)  # compute-sanitizer on the attention tests: out-of-bounds / misaligned accesses,
      # then shared-memory races between the cp.async stages and the barriers
      # (FLAME_OP_CASES keeps the attention cases of one head dim)
      run_phase memcheck 150 env FLAME_OP_CASES=_D64 compute-sanitizer --tool memcheck \
        --error-exitcode 1 $BUILD/test_kernels --gtest_filter='Cuda/OpConformance.*/attention_*'
      run_phase racecheck 150 env FLAME_OP_CASES=_D128 compute-sanitizer --tool racecheck \
        --racecheck-report hazard --error-exitcode 1 $BUILD/test_kernels \
        --gtest_filter='Cuda/OpConformance.*/attention_*' ;;
    *) log "unknown phase $phase"; status=1 ;;
  esac
done

# The table: every benchmark line "<name> <shape>: <numbers>" from the logs, then test verdicts.
{
  echo "== device_check table ($(cat "$OUT/gpu.txt")) =="
  grep -h -E '^(torch_)?[a-z0-9_]+.*: .*(GB/s|TFLOP/s|tok/s|ms)' "$OUT"/bench_*.log "$OUT"/torch_*.log 2>/dev/null \
    | grep -v '^#' | sort
  for t in cuda_kernels cuda_model cuda_train torch_reference resume_gpu hf_reference judge_bench \
           memcheck racecheck; do
    [ -f "$OUT/$t.log" ] && echo "$t: $(grep -E '^\[  (PASSED|FAILED)  \]|tests? (passed|failed)|max rel|resume_check|judge_bench|PASS|FAIL|ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/$t.log" | tail -3 | tr '\n' ' ')"
  done
  grep -h "phase .* rc=" "$OUT/summary.log"
} | tee "$OUT/table.txt"
exit $status
