// AdamW (Loshchilov & Hutter): decoupled weight decay, bias-corrected moments.
#pragma once
#include <cstdint>

namespace flame {

struct AdamWConfig {
  float lr, beta1, beta2, eps;
  float weight_decay;  // applied only to elements inside a range with decay != 0
  int step;            // 1-based step, for bias correction
};

// One tensor of the flat parameter buffer: elements [offset, offset + size) (indices into the
// whole flat buffer) take weight decay iff decay != 0. The table lives in device memory, sorted
// by offset, ranges disjoint; it is built once by the model (a few hundred entries at most).
// Elements covered by no range are updated without decay (e.g. alignment padding).
struct AdamWRange {
  int64_t offset;
  int64_t size;
  int32_t decay;
  int32_t pad = 0;
};

}  // namespace flame

namespace flame::cpu {

struct AdamWParams {
  float lr, beta1, beta2, eps;
  float weight_decay;  // 0 for norms and biases (the model decides per tensor)
  int step;            // 1-based step, for bias correction
};

// params, grads, m, v (n): m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
// p -= lr * (mhat / (sqrt(vhat) + eps) + wd * p)
void adamw_update(float* params, const float* grads, float* m, float* v, long n,
                  const AdamWParams& p);

// sum of squares of x (n), accumulated in double
double sum_squares(const float* x, long n);
// x (n) *= s
void scale_inplace(float* x, long n, float s);

}  // namespace flame::cpu

#ifdef FLAME_WITH_CUDA
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <cstddef>
#include <cstdint>

namespace flame::cuda {
using bf16 = __nv_bfloat16;

using flame::AdamWConfig;
using flame::AdamWRange;

// One launch over the flat buffer (or a shard of it): element i of the pointers is element
// base + i of the flat buffer (base = 0 for the whole buffer, the shard start under ZeRO-1).
// g = float(grads[i]) * (grad_scale ? *grad_scale : 1)   (clip factor folded in; device scalar,
//     so clipping needs no host round trip)
// m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
// master -= lr (mhat / (sqrt(vhat) + eps) + wd master)   (wd = 0 outside decaying ranges)
// params[i] = bf16(master[i])   (the working copy; skipped when params is null)
// master, m, v (n) fp32; grads, params (n) bf16. Each element's decay flag comes from a binary
// search of the range table (once per 8-element pack unless the pack straddles a boundary).
void adamw_update(float* master, bf16* params, const bf16* grads, float* m, float* v, long n,
                  long base, const AdamWRange* ranges, int n_ranges, const float* grad_scale,
                  const AdamWConfig& cfg, cudaStream_t stream);

// Global gradient norm, deterministic: pass 1 gives each of a fixed number of blocks (a function
// of n only) a fixed slice pattern of x and writes one fp32 partial sum of squares per block to
// scratch; pass 2 (one block) adds the partials in a fixed tree order.
// scratch: sum_squares_scratch_floats() floats of device memory.
size_t sum_squares_scratch_floats();
// out[0] = sum x^2 over x (n) bf16, accumulated in fp32
void sum_squares(float* out, const bf16* x, long n, float* scratch, cudaStream_t stream);
// norm_out[0] = sqrt(sumsq[0]); scale_out[0] = min(1, max_norm / (norm + 1e-6)) (as PyTorch's
// clip_grad_norm_), 1 when max_norm <= 0. A non-finite norm gives a NaN scale (when clipping is
// on), which would poison the update: the trainer checks the norm before it steps. Either output
// may be null.
void clip_scale(float* norm_out, float* scale_out, const float* sumsq, float max_norm,
                cudaStream_t stream);
// sum_squares then clip_scale; sumsq kept in scratch.
void grad_norm_clip(float* norm_out, float* scale_out, const bf16* grads, long n, float max_norm,
                    float* scratch, cudaStream_t stream);

}  // namespace flame::cuda
#endif  // FLAME_WITH_CUDA
