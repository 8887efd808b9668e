// AdamW step over 124M parameters (GPT-2 small) in one launch, plus the global grad norm.
// Minimum DRAM traffic per parameter:
//   update: read master, m, v (fp32) + grad (bf16), write master, m, v (fp32) + param (bf16)
//           = 12 + 2 + 12 + 2 = 28 bytes (PyTorch fused AdamW on fp32 params and grads: read
//           p, g, m, v, write p, m, v = 28 bytes too);
//   grad norm: read grad (bf16) = 2 bytes.
#include <cstdio>
#include <vector>

#include "bench/cuda_bench_util.cuh"
#include "kernels/adamw.h"

using namespace flame;
using namespace flame::bench;

static int run() {
  const long n = 124475904;  // GPT-2 small with a padded vocabulary, rounded
  print_device_header();
  auto master = random_f32(n, -0.1f, 0.1f, 1);
  auto m = random_f32(n, -1e-3f, 1e-3f, 2), v = random_f32(n, 0.0f, 1e-6f, 3);
  auto grads = random_bf16(n, -1e-2f, 1e-2f, 4);
  DeviceBuffer<bf16> params(n);
  // A realistic table: ~150 tensors, alternating decay (matrices) and no decay (norms, biases).
  std::vector<cuda::AdamWRange> ranges;
  const long per = n / 150;
  for (int t = 0; t < 150; ++t) {
    const long off = t * per;
    ranges.push_back({off, t == 149 ? n - off : per, t % 2});
  }
  DeviceBuffer<cuda::AdamWRange> dranges(ranges);
  DeviceBuffer<float> scratch(cuda::sum_squares_scratch_floats()), norm(2);
  const cuda::AdamWConfig cfg{6e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, 1};

  auto step = [&] {
    cuda::adamw_update(master.data(), params.data(), grads.data(), m.data(), v.data(), n, 0,
                       dranges.data(), int(ranges.size()), norm.data() + 1, cfg, 0);
  };
  auto gnorm = [&] {
    cuda::grad_norm_clip(norm.data(), norm.data() + 1, grads.data(), n, 1.0f, scratch.data(), 0);
  };
  gnorm();
  const double t_step = time_ms(step, 5, 20);
  const double t_norm = time_ms(gnorm, 5, 20);
  report("adamw_step", "124M", "fp32+bf16", t_step, n * 28.0);
  report("grad_norm", "124M", "bf16", t_norm, n * 2.0);
  return 0;
}

int main() {
  if (!flame::cuda::device_available()) {
    std::printf("# no CUDA device: skipped\n");
    return 0;
  }
  try {
    return run();
  } catch (const flame::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
