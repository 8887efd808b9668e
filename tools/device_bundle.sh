#!/usr/bin/env bash
# Builds the CUDA test and benchmark binaries here (sm_90) and bundles them with the runtime
# libraries a stock device image may lack, into build-bundle/ (git-ignored, ~50 MB), so a short
# device lease is spent running, not compiling. On the device (device tool, carry build-bundle):
#   bash build-bundle/run.sh        # CUDA tests, whole-model checks, kernel + e2e benchmarks
# tools/device_check.sh is the complete alternative that builds on the device itself.
set -euo pipefail
cd "$(dirname "$0")/.."
targets=(test_kernels test_model test_train flame bench_ops bench_train_gpt2)
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DFLAME_CUDA=ON \
  -DCMAKE_CUDA_ARCHITECTURES=90 >/dev/null
ninja -C build-gpu -j "$(nproc)" "${targets[@]}"
rm -rf build-bundle && mkdir -p build-bundle/lib
for t in "${targets[@]}"; do cp build-gpu/$t build-bundle/; done
strip build-bundle/test_* build-bundle/bench_* build-bundle/flame 2>/dev/null || true
# Non-system libraries, minus the CUDA ones the device has (they are hundreds of MB).
ldd build-bundle/test_model build-bundle/test_kernels build-bundle/test_train | awk '/=>/{print $3}' | sort -u |
  grep -vE 'lib(c|m|dl|rt|pthread|stdc\+\+|gcc_s|cuda|cudart|cublas|cublasLt)\.so|ld-linux' |
  while read -r lib; do cp -L "$lib" build-bundle/lib/; done
cat > build-bundle/run.sh <<'RUN'
#!/usr/bin/env bash
# Device quick check with binaries built on the dev machine; logs under $OUT.
cd "$(dirname "$0")/.."
B=build-bundle
OUT=${OUT:-$PWD/device_out}; mkdir -p "$OUT"
export LD_LIBRARY_PATH=$PWD/$B/lib:${LD_LIBRARY_PATH:-}
export FLAME_CUDA_SYNC_TIMEOUT_S=30
nvidia-smi --query-gpu=name --format=csv,noheader > $OUT/gpu.txt 2>&1
timeout 120 $B/test_kernels --gtest_filter='Cuda*' > $OUT/cuda_kernels.log 2>&1; echo "kernels rc=$?" >> $OUT/rc.txt
timeout 45 $B/test_model --gtest_filter='CudaModel*' > $OUT/cuda_model.log 2>&1; echo "model rc=$?" >> $OUT/rc.txt
# (TrainCuda runs the flame binary by its build path: tools/device_check.sh runs it)
timeout 60 $B/test_train --gtest_filter='ScoringCuda*:GenerateCuda*' > $OUT/cuda_train.log 2>&1; echo "train rc=$?" >> $OUT/rc.txt
( timeout 60 $B/bench_ops --ms 50; timeout 25 $B/bench_train_gpt2 16 10 ) > $OUT/bench.log 2>&1
( timeout 25 python3 bench/torch_ops.py; timeout 25 python3 bench/torch_attention.py 10 ) > $OUT/torch.log 2>&1
grep -hE "PASSED|FAILED" $OUT/cuda_*.log | tail -9; cat $OUT/rc.txt
cat $OUT/bench.log $OUT/torch.log | grep -v "^#" | head -80
RUN
chmod +x build-bundle/run.sh
du -sh build-bundle
