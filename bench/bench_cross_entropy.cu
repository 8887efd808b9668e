// Fused softmax cross-entropy forward + backward, 16384 x 50304 bf16 logits (GPT-2 small's
// padded vocabulary, batch 16 x 1024), gradient written in place over the logits.
// Minimum DRAM traffic per element: read the logit (2 bytes) + write its gradient (2 bytes) =
// 4 bytes (per-row targets, mask and loss are negligible but counted). PyTorch is reported with
// the same byte count, so GB/s compares time directly. Repeats run on the previous run's
// gradients (finite values: same work).
#include <cstdio>
#include <vector>

#include "bench/cuda_bench_util.cuh"
#include "kernels/cross_entropy.h"

using namespace flame;
using namespace flame::bench;

static int run() {
  const int N = 16384, V = 50304;
  const size_t nv = size_t(N) * V;
  print_device_header();
  auto logits = random_bf16(nv, -8.0f, 8.0f, 1);
  std::vector<int32_t> targets(N);
  std::vector<float> mask(N);
  for (int n = 0; n < N; ++n) {
    targets[n] = int32_t((uint64_t(n) * 2654435761u) % V);
    mask[n] = n % 4 == 0 ? 0.0f : 1.0f;  // a quarter of the tokens are prompt (masked)
  }
  DeviceBuffer<int32_t> dtargets(targets);
  DeviceBuffer<float> dmask(mask), losses(N), mean(1);
  const double row_bytes = double(N) * (4 + 4 + 4);

  auto fwd_bwd = [&] {
    cuda::cross_entropy_forward_backward(losses.data(), logits.data(), dtargets.data(),
                                         dmask.data(), N, V, 1.0f, float(N), 0);
    cuda::cross_entropy_mean(mean.data(), losses.data(), dmask.data(), N, 0);
  };
  auto fwd = [&] {
    cuda::cross_entropy_forward(losses.data(), logits.data(), dtargets.data(), dmask.data(), N, V,
                                0);
  };
  const std::string shape = std::to_string(N) + "x" + std::to_string(V);
  const double t_fwd = time_ms(fwd, 3, 20);
  const double t_both = time_ms(fwd_bwd, 3, 20);
  report("cross_entropy_fwd", shape, "bf16", t_fwd, nv * 2.0 + row_bytes);
  report("cross_entropy_fwd_bwd", shape, "bf16", t_both, nv * 4.0 + row_bytes);
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
