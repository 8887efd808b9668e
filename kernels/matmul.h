// Linear layer: out = inp @ W^T + b (PyTorch nn.Linear layout), GEMMs through CBLAS.
#pragma once

namespace flame::cpu {

// inp (N,C), weight (OC,C), bias (OC) or null -> out (N,OC)
void matmul_forward(float* out, const float* inp, const float* weight, const float* bias, int N,
                    int C, int OC);
// dinp (N,C) = dout @ W (written; skipped when dinp is null),
// dweight (OC,C) += dout^T @ inp, dbias (OC) += sum_n dout (when non-null)
void matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout,
                     const float* inp, const float* weight, int N, int C, int OC);

}  // namespace flame::cpu

#ifdef FLAME_WITH_CUDA
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <cublasLt.h>

#include <cstddef>

namespace flame::cuda {
using bf16 = __nv_bfloat16;

// cuBLASLt handle plus workspace, created once and passed to every GEMM. Not thread-safe: one
// context per stream that runs GEMMs concurrently (they would share the workspace).
class GemmContext {
 public:
  explicit GemmContext(size_t workspace_bytes = size_t(32) << 20);  // 32 MiB suits Hopper
  ~GemmContext();
  GemmContext(const GemmContext&) = delete;
  GemmContext& operator=(const GemmContext&) = delete;

  cublasLtHandle_t handle() const { return handle_; }
  void* workspace() const { return workspace_; }
  size_t workspace_bytes() const { return workspace_bytes_; }
  // Times a fused epilogue (BIAS, GELU_AUX_BIAS, DGELU) had no cuBLASLt algorithm for the shape
  // and the unfused path (plain GEMM + elementwise kernel, same result) ran instead.
  int epilogue_fallbacks = 0;

 private:
  cublasLtHandle_t handle_ = nullptr;
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
};

// bf16 GEMMs with fp32 accumulation (CUBLAS_COMPUTE_32F), row-major as kernels/matmul.h.
// out (N,OC) = inp (N,C) @ weight (OC,C)^T + bias (OC) (bias may be null; BIAS epilogue).
// pre_gelu (N,OC), when non-null: out = gelu_tanh(inp @ W^T + b) and pre_gelu keeps the GELU
// input for backward (GELU_AUX_BIAS epilogue; needs OC % 8 == 0).
void matmul_forward(GemmContext& ctx, bf16* out, bf16* pre_gelu, const bf16* inp,
                    const bf16* weight, const bf16* bias, int N, int C, int OC,
                    cudaStream_t stream);

// dinp (N,C) = dout (N,OC) @ weight (OC,C) (written; skipped when null). When inp_pre_gelu
// (N,C) is given, the layer's input was gelu_tanh(inp_pre_gelu) and dinp receives the gradient
// with respect to inp_pre_gelu instead: (dout @ W) * gelu'(inp_pre_gelu) (DGELU epilogue; needs
// C % 8 == 0).
// dweight (OC,C) += dout^T @ inp (beta = 1; skipped when null).
// dbias (OC) += column sums of dout (skipped when null): a deterministic two-stage kernel with
// fp32 partials in scratch (matmul_backward_scratch_bytes(N, OC) bytes of device memory).
size_t matmul_backward_scratch_bytes(int N, int OC);
void matmul_backward(GemmContext& ctx, bf16* dinp, bf16* dweight, bf16* dbias, float* scratch,
                     const bf16* dout, const bf16* inp, const bf16* weight,
                     const bf16* inp_pre_gelu, int N, int C, int OC, cudaStream_t stream);

}  // namespace flame::cuda
#endif  // FLAME_WITH_CUDA
