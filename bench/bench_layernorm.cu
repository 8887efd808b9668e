// LayerNorm forward + backward, 16384 x 768 bf16 (GPT-2 small, batch 16 x 1024 tokens).
// Minimum DRAM traffic per element (2-byte bf16; per-row stats and the C-sized weights are
// negligible but counted):
//   forward:  read x, write out                                         = 4 bytes
//   backward: read dout, x, read + write dinp (accumulated)             = 8 bytes
//   fused residual forward: read resid, delta, write residual, out     = 8 bytes
// PyTorch's F.layer_norm backward writes dinp instead of accumulating (6 bytes/element); the
// table uses the same byte counts for both so GB/s compares time directly.
#include <cstdio>

#include "bench/cuda_bench_util.cuh"
#include "kernels/layernorm.h"

using namespace flame;
using namespace flame::bench;

static int run() {
  const int N = 16384, C = 768;
  const float eps = 1e-5f;
  const size_t nc = size_t(N) * C;
  print_device_header();
  auto x = random_bf16(nc, -2.0f, 2.0f, 1), delta = random_bf16(nc, -1.0f, 1.0f, 2);
  auto dout = random_bf16(nc, -1.0f, 1.0f, 3), dinp = random_bf16(nc, -1.0f, 1.0f, 4);
  auto w = random_bf16(C, 0.5f, 1.5f, 5), b = random_bf16(C, -0.5f, 0.5f, 6);
  DeviceBuffer<bf16> out(nc), resid(nc), dw(C), db(C);
  DeviceBuffer<float> mean(N), rstd(N);
  DeviceBuffer<float> scratch(cuda::layernorm_backward_scratch_bytes(N, C) / sizeof(float));
  dw.zero();
  db.zero();

  auto fwd = [&] {
    cuda::layernorm_forward(out.data(), mean.data(), rstd.data(), x.data(), w.data(), b.data(), N,
                            C, eps, 0);
  };
  auto bwd = [&] {
    cuda::layernorm_backward(dinp.data(), dw.data(), db.data(), scratch.data(), dout.data(),
                             x.data(), w.data(), mean.data(), rstd.data(), N, C, 0);
  };
  auto res_fwd = [&] {
    cuda::layernorm_residual_forward(resid.data(), out.data(), mean.data(), rstd.data(), x.data(),
                                     delta.data(), w.data(), b.data(), N, C, eps, 0);
  };
  const int warmups = 10, repeats = 100;
  const double stats = double(N) * 8, params = double(C) * 2 * 2;
  const std::string shape = std::to_string(N) + "x" + std::to_string(C);
  const double t_fwd = time_ms(fwd, warmups, repeats);
  const double t_bwd = time_ms(bwd, warmups, repeats);
  const double t_both = time_ms([&] { fwd(); bwd(); }, warmups, repeats);
  const double t_res = time_ms(res_fwd, warmups, repeats);
  report("layernorm_fwd", shape, "bf16", t_fwd, nc * 4.0 + stats + params);
  report("layernorm_bwd", shape, "bf16", t_bwd, nc * 8.0 + stats + 2 * params);
  report("layernorm_fwd_bwd", shape, "bf16", t_both, nc * 12.0 + 2 * stats + 3 * params);
  report("layernorm_residual_fwd", shape, "bf16", t_res, nc * 8.0 + stats + params);
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
