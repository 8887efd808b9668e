// One benchmark for every CUDA op: walks the op table of tests/kernels/op_cases.h (the cases the
// conformance test checks) and times each kBench case (every case with --all) with CUDA events on
// device-side random inputs. Per case one line
//   <op> <shape>: <ms> ms, <GB/s> GB/s (<pct>% of measured <ceiling> GB/s)
// for memory-bound ops, and TFLOP/s against the measured compute ceiling for the compute-bound
// ones (matmul, attention). The ceilings are measured at start: a 1 GiB device-to-device
// cudaMemcpy (read + write = 2 GiB of traffic) for bandwidth, an 8192^3 bf16 cuBLAS GEMM with
// fp32 accumulation for compute. Bytes and FLOPs per case come from the table (case_bytes,
// case_flops: minimum DRAM traffic, each input read once and each output written once).
// Usage: bench_ops [--op NAME[,NAME...]] [--all] [--list] [--ms TARGET_MS]
//   --op: keep the cases whose op name contains one of the NAMEs (e.g. --op layernorm,attention)
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bench/cuda_bench_util.cuh"
#include "kernels/activations.h"
#include "kernels/adamw.h"
#include "kernels/attention.h"
#include "core/error.h"
#include "kernels/convert.h"
#include "kernels/cross_entropy.h"
#include "kernels/embedding.h"
#include "kernels/layernorm.h"
#include "kernels/matmul.h"
#include "kernels/residual.h"
#include "kernels/rmsnorm.h"
#include "kernels/rope.h"
#include "tests/kernels/op_cases.h"

using namespace flame;
using namespace flame::bench;
using namespace flame::opcases;

namespace {

// Device allocations of one case (freed together when the case is done).
struct Arena {
  std::vector<DeviceBuffer<unsigned char>> bufs;
  std::vector<std::shared_ptr<void>> keep;  // other state the launch needs (GemmContext)

  template <class T>
  T* zeros(size_t n) {
    bufs.emplace_back(std::max<size_t>(n, 1) * sizeof(T));
    bufs.back().zero();
    return reinterpret_cast<T*>(bufs.back().data());
  }
  template <class T>
  T* random(size_t n, float lo, float hi) {
    T* p = zeros<T>(n);
    fill_uniform_kernel<T><<<1024, 256>>>(p, n, lo, hi, uint32_t(bufs.size()));
    CUDA_CHECK_LAUNCH();
    return p;
  }
  bf16* rbf16(size_t n, float lo = -1.0f, float hi = 1.0f) { return random<bf16>(n, lo, hi); }
  float* rf32(size_t n, float lo = -1.0f, float hi = 1.0f) { return random<float>(n, lo, hi); }
  template <class T>
  T* copy(const std::vector<T>& h) {
    T* p = zeros<T>(h.size());
    CUDA_CHECK(cudaMemcpy(p, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice));
    return p;
  }
};

// ids (n) in [0, range): a multiplicative hash of the index
std::vector<int32_t> hashed_ids(long n, long range) {
  std::vector<int32_t> v(n);
  for (long i = 0; i < n; ++i) v[i] = int32_t((uint64_t(i) * 2654435761u) % uint64_t(range));
  return v;
}

using Launch = std::function<void()>;

// Allocates and fills the case's inputs; returns the launch to time.
Launch setup(const OpCase& c, Arena& a) {
  const size_t NC = size_t(c.N) * c.C;
  const float eps = 1e-5f;
  switch (c.op) {
    case Op::embedding_fwd:
    case Op::embedding_bwd: {
      const int V = c.V ? c.V : kEmbV, maxT = c.V ? kBenchMaxT : kEmbMaxT;
      int32_t* tok = a.copy(hashed_ids(c.N, V));
      std::vector<int32_t> pos(c.N);
      for (int n = 0; n < c.N; ++n) pos[n] = n % maxT;
      int32_t* dpos = a.copy(pos);
      bf16 *wte = a.rbf16(size_t(V) * c.C), *wpe = c.pos ? a.rbf16(size_t(maxT) * c.C) : nullptr;
      bf16* out = a.rbf16(NC);
      if (c.op == Op::embedding_fwd)
        return [=] { cuda::embedding_forward(out, tok, dpos, wte, wpe, c.N, c.C, 0); };
      const size_t ws_bytes = cuda::embedding_backward_workspace_bytes(c.N);
      unsigned char* ws = a.zeros<unsigned char>(ws_bytes);
      return [=] { cuda::embedding_backward(wte, wpe, out, tok, dpos, c.N, c.C, ws, ws_bytes, 0); };
    }
    case Op::layernorm_fwd:
    case Op::layernorm_residual_fwd:
    case Op::layernorm_bwd: {
      bf16 *x = a.rbf16(NC, -2, 2), *d = a.rbf16(NC), *out = a.rbf16(NC), *res = a.rbf16(NC);
      bf16 *w = a.rbf16(c.C, 0.5f, 1.5f), *b = c.bias ? a.rbf16(c.C, -0.5f, 0.5f) : nullptr;
      float *mean = a.zeros<float>(c.N), *rstd = a.zeros<float>(c.N);
      if (c.op == Op::layernorm_fwd)
        return [=] { cuda::layernorm_forward(out, mean, rstd, x, w, b, c.N, c.C, eps, 0); };
      if (c.op == Op::layernorm_residual_fwd)
        return [=] {
          cuda::layernorm_residual_forward(res, out, mean, rstd, x, d, w, b, c.N, c.C, eps, 0);
        };
      cuda::layernorm_forward(out, mean, rstd, x, w, b, c.N, c.C, eps, 0);  // the statistics
      float* scratch = a.zeros<float>(cuda::layernorm_backward_scratch_bytes(c.N, c.C) / 4);
      bf16 *dw = a.zeros<bf16>(c.C), *db = a.zeros<bf16>(c.C);
      return [=] {
        cuda::layernorm_backward(res, dw, db, scratch, d, x, w, mean, rstd, c.N, c.C, 0);
      };
    }
    case Op::rmsnorm_fwd:
    case Op::rmsnorm_residual_fwd:
    case Op::rmsnorm_bwd: {
      bf16 *x = a.rbf16(NC, -2, 2), *d = a.rbf16(NC), *out = a.rbf16(NC), *res = a.rbf16(NC);
      bf16* w = a.rbf16(c.C, 0.5f, 1.5f);
      float* rstd = a.zeros<float>(c.N);
      if (c.op == Op::rmsnorm_fwd)
        return [=] { cuda::rmsnorm_forward(out, rstd, x, w, c.N, c.C, eps, 0); };
      if (c.op == Op::rmsnorm_residual_fwd)
        return [=] { cuda::rmsnorm_residual_forward(res, out, rstd, x, d, w, c.N, c.C, eps, 0); };
      cuda::rmsnorm_forward(out, rstd, x, w, c.N, c.C, eps, 0);
      float* scratch = a.zeros<float>(cuda::rmsnorm_backward_scratch_bytes(c.N, c.C) / 4);
      bf16* dw = a.zeros<bf16>(c.C);
      return [=] { cuda::rmsnorm_backward(res, dw, scratch, d, x, w, rstd, c.N, c.C, 0); };
    }
    case Op::matmul_fwd:
    case Op::matmul_fwd_gelu:
    case Op::matmul_bwd:
    case Op::matmul_bwd_dgelu: {
      auto ctx = std::make_shared<cuda::GemmContext>();
      a.keep.push_back(ctx);
      cuda::GemmContext* g = ctx.get();
      const size_t NO = size_t(c.N) * c.OC;
      bf16 *inp = a.rbf16(NC), *w = a.rbf16(size_t(c.OC) * c.C, -0.05f, 0.05f);
      bf16* bias = c.bias ? a.rbf16(c.OC) : nullptr;
      bf16 *out = a.rbf16(NO), *pre = a.rbf16(c.op == Op::matmul_bwd_dgelu ? NC : NO, -3, 3);
      switch (c.op) {
        case Op::matmul_fwd:
          return [=] { cuda::matmul_forward(*g, out, nullptr, inp, w, bias, c.N, c.C, c.OC, 0); };
        case Op::matmul_fwd_gelu:
          return [=] { cuda::matmul_forward(*g, out, pre, inp, w, bias, c.N, c.C, c.OC, 0); };
        case Op::matmul_bwd: {
          bf16 *dinp = a.zeros<bf16>(NC), *dw = a.zeros<bf16>(size_t(c.OC) * c.C);
          bf16* db = a.zeros<bf16>(c.OC);
          float* scratch = a.zeros<float>(cuda::matmul_backward_scratch_bytes(c.N, c.OC) / 4);
          return [=] {
            cuda::matmul_backward(*g, dinp, dw, db, scratch, out, inp, w, nullptr, c.N, c.C, c.OC,
                                  0);
          };
        }
        default: {
          bf16* dinp = a.zeros<bf16>(NC);
          return [=] {
            cuda::matmul_backward(*g, dinp, nullptr, nullptr, nullptr, out, nullptr, w, pre, c.N,
                                  c.C, c.OC, 0);
          };
        }
      }
    }
    case Op::attention_fwd:
    case Op::attention_bwd: {
      const cpu::AttentionShape s{c.B, c.T, c.Hq, c.Hkv, c.D};
      const size_t tok = size_t(c.B) * c.T, W = size_t(c.Hq + 2 * c.Hkv) * c.D;
      bf16 *qkv = a.rbf16(tok * W), *out = a.zeros<bf16>(tok * c.Hq * c.D);
      float* lse = a.zeros<float>(tok * c.Hq);
      if (c.op == Op::attention_fwd)
        return [=] { cuda::attention_forward(out, lse, qkv, nullptr, s, 0); };
      cuda::attention_forward(out, lse, qkv, nullptr, s, 0);
      bf16 *dout = a.rbf16(tok * c.Hq * c.D), *dqkv = a.zeros<bf16>(tok * W);
      unsigned char* scratch = a.zeros<unsigned char>(cuda::attention_backward_scratch_bytes(s));
      return [=] {
        cuda::attention_backward(dqkv, dout, qkv, out, lse, nullptr, scratch, s, 0);
      };
    }
    case Op::attention_decode:
    case Op::kv_cache_append: {
      // kBench: c.rows rows, one new token each at position c.cached; kTest (--all): the shape of
      // decode_cases()[c.decode] with its positions.
      std::vector<int32_t> row, pos;
      cuda::DecodeShape s{};
      if (c.decode >= 0) {
        const test::DecodeCase& dc = test::decode_cases()[size_t(c.decode)];
        s = {0, dc.Hq, dc.Hkv, dc.D, int(dc.cached.size()), 1};
        for (size_t r = 0; r < dc.cached.size(); ++r) {
          s.max_len = std::max(s.max_len, dc.cached[r] + dc.fresh[r]);
          for (int j = 0; j < dc.fresh[r]; ++j) {
            row.push_back(int(r));
            pos.push_back(dc.cached[r] + j);
          }
        }
      } else {
        s = {0, c.Hq, c.Hkv, c.D, c.rows, c.cached + 1};
        for (int r = 0; r < c.rows; ++r) row.push_back(r), pos.push_back(c.cached);
      }
      s.n = int(row.size());
      const size_t cache = size_t(s.rows) * s.max_len * s.Hkv * s.D;
      bf16 *k = a.rbf16(cache), *v = a.rbf16(cache);
      bf16* qkv = a.rbf16(size_t(s.n) * (s.Hq + 2 * s.Hkv) * s.D);
      bf16* out = a.zeros<bf16>(size_t(s.n) * s.Hq * s.D);
      int32_t *drow = a.copy(row), *dpos = a.copy(pos);
      if (c.op == Op::kv_cache_append)
        return [=] { cuda::kv_cache_append(k, v, qkv, drow, dpos, s, 0); };
      cuda::DecodeShape sq = s;
      sq.q_stride = long(s.Hq + 2 * s.Hkv) * s.D;  // q read in place from qkv
      return [=] { cuda::attention_decode(out, qkv, k, v, drow, dpos, sq, 0); };
    }
    case Op::rope_fwd:
    case Op::rope_bwd: {
      const long stride = long(c.H + c.extra) * c.D;
      bf16* x = a.rbf16(size_t(c.N) * stride);
      int32_t* pos = a.copy(hashed_ids(c.N, 4096));
      if (c.op == Op::rope_fwd)
        return [=] { cuda::rope_forward(x, pos, c.N, c.H, c.D, stride, 10000.0f, 0); };
      return [=] { cuda::rope_backward(x, pos, c.N, c.H, c.D, stride, 10000.0f, 0); };
    }
    case Op::gelu_fwd:
    case Op::gelu_bwd: {
      bf16 *x = a.rbf16(c.n, -5, 5), *g = a.rbf16(c.n), *y = a.zeros<bf16>(c.n);
      if (c.op == Op::gelu_fwd) return [=] { cuda::gelu_forward(y, x, c.n, 0); };
      return [=] { cuda::gelu_backward(y, x, g, c.n, 0); };
    }
    case Op::swiglu_fwd:
    case Op::swiglu_bwd: {
      const size_t nin = size_t(c.N) * 2 * c.F, nout = size_t(c.N) * c.F;
      bf16 *x = a.rbf16(nin, -5, 5), *g = a.rbf16(nout), *y = a.zeros<bf16>(nin);
      if (c.op == Op::swiglu_fwd) return [=] { cuda::swiglu_forward(y, x, c.N, c.F, 0); };
      return [=] { cuda::swiglu_backward(y, x, g, c.N, c.F, 0); };
    }
    case Op::residual_fwd:
    case Op::accumulate: {
      bf16 *x = a.rbf16(c.n), *y = a.rbf16(c.n), *out = a.zeros<bf16>(c.n);
      if (c.op == Op::residual_fwd) return [=] { cuda::residual_forward(out, x, y, c.n, 0); };
      // repeats keep adding small values: finite, same work
      bf16* small = a.rbf16(c.n, -1e-3f, 1e-3f);
      return [=] { cuda::accumulate(x, small, c.n, 0); };
    }
    case Op::cross_entropy_fwd:
    case Op::cross_entropy_fwd_bwd: {
      bf16* logits = a.rbf16(size_t(c.N) * c.V, -8, 8);
      int32_t* targets = a.copy(hashed_ids(c.N, c.V));
      std::vector<float> mask(c.N, 1.0f);
      if (c.mask)
        for (int n = 0; n < c.N; n += 4) mask[n] = 0.0f;  // a quarter masked (prompt tokens)
      float *dmask = a.copy(mask), *losses = a.zeros<float>(c.N), *mean = a.zeros<float>(1);
      if (c.op == Op::cross_entropy_fwd)
        return [=] { cuda::cross_entropy_forward(losses, logits, targets, dmask, c.N, c.V, 0); };
      // repeats run on the previous run's gradients (finite values: same work)
      return [=] {
        cuda::cross_entropy_forward_backward(losses, logits, targets, dmask, c.N, c.V, 1.0f,
                                             float(c.N), 0);
        cuda::cross_entropy_mean(mean, losses, dmask, c.N, 0);
      };
    }
    case Op::adamw: {
      float *master = a.rf32(c.n, -0.1f, 0.1f), *m = a.rf32(c.n, -1e-3f, 1e-3f);
      float* v = a.rf32(c.n, 0.0f, 1e-6f);
      bf16 *grads = a.rbf16(c.n, -1e-2f, 1e-2f), *params = a.zeros<bf16>(c.n);
      // a realistic table: 150 tensors, alternating decay (matrices) and none (norms, biases)
      std::vector<cuda::AdamWRange> ranges;
      const long per = c.n / 150;
      for (int t = 0; t < 150; ++t)
        ranges.push_back({t * per, t == 149 ? c.n - t * per : per, t % 2});
      if (per == 0) ranges = {{0, c.n, 1}};
      cuda::AdamWRange* dr = a.copy(ranges);
      const int nr = int(ranges.size());
      float* scale = a.copy(std::vector<float>{0.9f});
      const cuda::AdamWConfig cfg{6e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, 1};
      return [=] {
        cuda::adamw_update(master, params, grads, m, v, c.n, 0, dr, nr, c.scale ? scale : nullptr,
                           cfg, 0);
      };
    }
    case Op::grad_norm: {
      bf16* g = a.rbf16(c.n, -1e-2f, 1e-2f);
      float *scratch = a.zeros<float>(cuda::sum_squares_scratch_floats()), *out = a.zeros<float>(2);
      return [=] { cuda::grad_norm_clip(out, out + 1, g, c.n, 1.0f, scratch, 0); };
    }
    case Op::convert_f32_to_bf16: {
      float* in = a.rf32(c.n, -100, 100);
      bf16* out = a.zeros<bf16>(c.n);
      return [=] { cuda::convert_f32_to_bf16(out, in, c.n, 0); };
    }
    case Op::convert_bf16_to_f32: {
      bf16* in = a.rbf16(c.n, -100, 100);
      float* out = a.zeros<float>(c.n);
      return [=] { cuda::convert_bf16_to_f32(out, in, c.n, 0); };
    }
    case Op::kCount:
      break;
  }
  FLAME_CHECK(false, "no benchmark for " << case_name(c));
  return {};
}

struct Ceilings {
  double bytes_per_s = 0, flops_per_s = 0;
};

// Bandwidth: device-to-device cudaMemcpy of 1 GiB (2 GiB of DRAM traffic); compute: an 8192^3
// bf16 GEMM (fp32 accumulation) through cuBLAS. Best of a few timed batches.
Ceilings measure_ceilings() {
  Ceilings c;
  {
    const size_t bytes = size_t(1) << 30;
    DeviceBuffer<unsigned char> src(bytes), dst(bytes);
    src.zero();
    auto copy = [&] { CUDA_CHECK(cudaMemcpyAsync(dst.data(), src.data(), bytes,
                                                 cudaMemcpyDeviceToDevice, 0)); };
    double best = 1e30;
    for (int k = 0; k < 3; ++k) best = std::min(best, time_ms(copy, 2, 10));
    c.bytes_per_s = 2.0 * bytes / (best * 1e-3);
  }
  {
    const int n = 8192;
    DeviceBuffer<bf16> A = random_bf16(size_t(n) * n, -1, 1, 1);
    DeviceBuffer<bf16> B = random_bf16(size_t(n) * n, -1, 1, 2);
    DeviceBuffer<bf16> C(size_t(n) * n);
    cublasHandle_t h;
    CUBLAS_CHECK(cublasCreate(&h));
    const float one = 1.0f, zero = 0.0f;
    auto gemm = [&] {
      CUBLAS_CHECK(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, A.data(), CUDA_R_16BF,
                                n, B.data(), CUDA_R_16BF, n, &zero, C.data(), CUDA_R_16BF, n,
                                CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    };
    double best = 1e30;
    for (int k = 0; k < 3; ++k) best = std::min(best, time_ms(gemm, 2, 10));
    c.flops_per_s = 2.0 * n * double(n) * n / (best * 1e-3);
    CUBLAS_CHECK(cublasDestroy(h));
  }
  return c;
}

bool matches(const std::string& name, const std::vector<std::string>& filters) {
  if (filters.empty()) return true;
  for (const std::string& f : filters)
    if (name.find(f) != std::string::npos) return true;
  return false;
}

int run(int argc, char** argv) {
  std::vector<std::string> filters;
  bool all = false, list = false;
  double target_ms = 100.0;  // timed repeats per case add up to about this
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--op" && i + 1 < argc) {
      std::string v = argv[++i];
      for (size_t p = 0; p <= v.size();) {
        const size_t q = std::min(v.find(',', p), v.size());
        if (q > p) filters.push_back(v.substr(p, q - p));
        p = q + 1;
      }
    } else if (arg == "--all") {
      all = true;
    } else if (arg == "--list") {
      list = true;
    } else if (arg == "--ms" && i + 1 < argc) {
      target_ms = std::atof(argv[++i]);
    } else {
      std::fprintf(stderr,
                   "usage: bench_ops [--op NAME[,NAME...]] [--all] [--list] [--ms TARGET_MS]\n");
      return 2;
    }
  }
  std::vector<OpCase> cases;
  for (const OpCase& c : op_cases())
    if ((all || (c.where & kBench)) && matches(spec(c.op).name, filters)) cases.push_back(c);
  if (list) {
    for (const OpCase& c : cases)
      std::printf("%s  %.3g MB, %.3g GFLOP\n", case_name(c).c_str(), case_bytes(c) / 1e6,
                  case_flops(c) / 1e9);
    return 0;
  }
  if (!flame::cuda::device_available()) {
    std::printf("# no CUDA device: skipped\n");
    return 0;
  }
  int dev = 0;
  CUDA_CHECK(cudaGetDevice(&dev));
  cudaDeviceProp prop{};
  CUDA_CHECK(cudaGetDeviceProperties(&prop, dev));
  const Ceilings ceil = measure_ceilings();
  std::printf("# device: %s, %d SMs; measured ceilings: %.0f GB/s (1 GiB D2D memcpy), %.0f "
              "TFLOP/s (8192^3 bf16 cuBLAS GEMM)\n",
              prop.name, prop.multiProcessorCount, ceil.bytes_per_s / 1e9,
              ceil.flops_per_s / 1e12);
  int failures = 0;
  for (const OpCase& c : cases) {
    const std::string name = case_name(c), op = spec(c.op).name;
    const std::string shape = name.size() > op.size() ? name.substr(op.size() + 1) : "";
    try {
      Arena arena;
      const Launch launch = setup(c, arena);
      CUDA_CHECK(cudaDeviceSynchronize());
      const double first = time_ms(launch, 1, 1);
      const int reps = int(std::clamp(target_ms / std::max(first, 1e-3), 3.0, 1000.0));
      const double ms = time_ms(launch, 2, reps);
      const double gbs = case_bytes(c) / (ms * 1e-3) / 1e9;
      if (spec(c.op).bound == Bound::compute) {
        const double tf = case_flops(c) / (ms * 1e-3) / 1e12;
        std::printf("%s %s: %.4f ms, %.1f TFLOP/s (%.1f%% of measured %.0f TFLOP/s), %.0f GB/s\n",
                    op.c_str(), shape.c_str(), ms, tf, 100.0 * tf * 1e12 / ceil.flops_per_s,
                    ceil.flops_per_s / 1e12, gbs);
      } else {
        std::printf("%s %s: %.4f ms, %.1f GB/s (%.1f%% of measured %.0f GB/s)\n", op.c_str(),
                    shape.c_str(), ms, gbs, 100.0 * gbs * 1e9 / ceil.bytes_per_s,
                    ceil.bytes_per_s / 1e9);
      }
      std::fflush(stdout);
    } catch (const flame::Error& e) {
      std::printf("%s %s: error: %s\n", op.c_str(), shape.c_str(), e.what());
      ++failures;
      cudaGetLastError();
    }
  }
  return failures ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const flame::Error& e) {
    std::fprintf(stderr, "bench_ops: %s\n", e.what());
    return 1;
  }
}
