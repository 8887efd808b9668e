// Linear layers through cuBLASLt: bf16 A, B, D with fp32 accumulation (CUBLAS_COMPUTE_32F).
// cuBLASLt is column-major; a row-major (R,K) matrix is the column-major (K,R) matrix, its
// transpose. So, with m, n, k the GEMM dims of D (m x n) = op(A) (m x k) op(B) (k x n):
//   forward  out^T (OC x N) = W (op T of the col-major (C x OC) W)  x  inp^T (C x N)
//   dinp     dinp^T (C x N) = W^T (col-major (C x OC) as is)        x  dout^T (OC x N)
//   dweight  dW^T (C x OC) += inp^T (C x N)                          x  dout (op T of (OC x N))
// Epilogues: BIAS (bias per row of D = per output channel), GELU_AUX_BIAS (stores the GELU input
// for backward), DGELU (multiplies dinp by gelu'(aux)). Each fused epilogue has an unfused
// fallback, taken only if the heuristic returns no algorithm: plain GEMM plus the elementwise
// kernel, counted in GemmContext::epilogue_fallbacks. The bias gradient is NOT a cuBLASLt
// epilogue (BGRADB writes instead of accumulating): a deterministic two-stage column sum, fp32
// partials per chunk of rows, then add_column_partials in chunk order.
#include "kernels/matmul.h"

#include <memory>
#include <type_traits>

#include "kernels/activations.h"
#include "kernels/cuda/common.cuh"

namespace flame::cuda {
namespace {

constexpr int kWarps = 8;            // column-sum kernel: warps sharing one chunk of rows
constexpr int kMaxRowChunks = 64;    // column-sum kernel: at most this many partial rows
constexpr int kMinRowsPerChunk = 256;

// ---- cuBLASLt plumbing --------------------------------------------------------------------

template <class Handle, cublasStatus_t (*Destroy)(Handle)>
struct LtObject {  // owns one cuBLASLt descriptor, destroyed on scope exit (even on throw)
  Handle h = nullptr;
  ~LtObject() {
    if (h) Destroy(h);
  }
};
using OpDesc = LtObject<cublasLtMatmulDesc_t, cublasLtMatmulDescDestroy>;
using Layout = LtObject<cublasLtMatrixLayout_t, cublasLtMatrixLayoutDestroy>;
using Pref = LtObject<cublasLtMatmulPreference_t, cublasLtMatmulPreferenceDestroy>;

struct Gemm {
  cublasOperation_t transa, transb;
  int m, n, k;
  const bf16* A;
  long lda;
  const bf16* B;
  long ldb;
  bf16* D;  // also C (beta != 0 accumulates into D)
  long ldd;
  float beta;
  cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  const bf16* bias = nullptr;
  const bf16* aux = nullptr;  // GELU input: written by GELU_AUX_BIAS, read by DGELU
  long aux_ld = 0;
};

template <class T>
void set_attr(cublasLtMatmulDesc_t d, cublasLtMatmulDescAttributes_t attr, const T& value) {
  CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(d, attr, &value, sizeof(value)));
}

// Runs the GEMM; returns false (running nothing) when cuBLASLt has no algorithm for it.
bool lt_matmul(GemmContext& ctx, const Gemm& g, cudaStream_t stream) {
  OpDesc op;
  CUBLAS_CHECK(cublasLtMatmulDescCreate(&op.h, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  set_attr(op.h, CUBLASLT_MATMUL_DESC_TRANSA, g.transa);
  set_attr(op.h, CUBLASLT_MATMUL_DESC_TRANSB, g.transb);
  set_attr(op.h, CUBLASLT_MATMUL_DESC_EPILOGUE, g.epilogue);
  if (g.bias) {
    set_attr(op.h, CUBLASLT_MATMUL_DESC_BIAS_POINTER, static_cast<const void*>(g.bias));
    set_attr(op.h, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, int32_t(CUDA_R_16BF));
  }
  if (g.aux) {
    set_attr(op.h, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, static_cast<const void*>(g.aux));
    set_attr(op.h, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD, int64_t(g.aux_ld));
  }
  // Stored shapes: A is (m x k) or, transposed, (k x m); B likewise with (k x n).
  const bool ta = g.transa == CUBLAS_OP_T, tb = g.transb == CUBLAS_OP_T;
  Layout a, b, d;
  CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&a.h, CUDA_R_16BF, ta ? g.k : g.m, ta ? g.m : g.k,
                                          g.lda));
  CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&b.h, CUDA_R_16BF, tb ? g.n : g.k, tb ? g.k : g.n,
                                          g.ldb));
  CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&d.h, CUDA_R_16BF, g.m, g.n, g.ldd));
  Pref pref;
  CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref.h));
  const uint64_t ws_bytes = ctx.workspace_bytes();
  CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
      pref.h, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws_bytes, sizeof(ws_bytes)));
  cublasLtMatmulHeuristicResult_t result{};
  int count = 0;
  const cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(ctx.handle(), op.h, a.h, b.h, d.h,
                                                           d.h, pref.h, 1, &result, &count);
  if (st != CUBLAS_STATUS_SUCCESS || count == 0) return false;
  const float alpha = 1.0f;
  CUBLAS_CHECK(cublasLtMatmul(ctx.handle(), op.h, &alpha, g.A, a.h, g.B, b.h, &g.beta, g.D, d.h,
                              g.D, d.h, &result.algo, ctx.workspace(), ctx.workspace_bytes(),
                              stream));
  return true;
}

void require(bool ran, const Gemm& g, const char* what) {
  FLAME_CHECK(ran, "no cuBLASLt algorithm for " << what << " (m=" << g.m << " n=" << g.n
                                                << " k=" << g.k << ")");
}

// ---- elementwise / reduction kernels ------------------------------------------------------

// out (N,OC) += bias (OC): the fallback for the BIAS epilogue.
__global__ void add_bias_kernel(bf16* out, const bf16* bias, long n, int OC) {
  grid_stride_packs<1>(n, [&](long e, auto) {
    out[e] = to_bf16(to_f32(out[e]) + to_f32(bias[e % OC]));
  });
}

// grid (ceil(C / (32*W)), row chunks); partial (row chunks, C): partial[r][c] = sum over the
// rows of chunk r of x[row][c]. Warp w takes rows w, w+8, ... of the chunk; the warp sums are
// folded in warp order: a fixed order, so the result is deterministic.
template <int W>
__global__ void __launch_bounds__(kWarps * 32)
    column_sums_kernel(float* partial, const bf16* x, int N, int C, int rows_per_chunk) {
  __shared__ float warp_sums[kWarps][32 * W];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int chunk = blockIdx.x * 32 * W;  // first column of this block
  const int c = chunk + lane * W;         // this lane's W columns (c < C implies c + W <= C)
  const int r0 = blockIdx.y * rows_per_chunk;
  const int r1 = min(N, r0 + rows_per_chunk);
  float acc[W] = {};
  if (c < C) {
    for (int row = r0 + warp; row < r1; row += kWarps) {
      float g[W];
      load_bf16<W>(g, x + long(row) * C + c);
#pragma unroll
      for (int k = 0; k < W; ++k) acc[k] += g[k];
    }
  }
#pragma unroll
  for (int k = 0; k < W; ++k) warp_sums[warp][lane * W + k] = acc[k];
  __syncthreads();
  for (int t = threadIdx.x; t < 32 * W; t += blockDim.x) {
    if (chunk + t >= C) continue;
    float sum = 0.0f;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) sum += warp_sums[w][t];
    partial[long(blockIdx.y) * C + chunk + t] = sum;
  }
}

struct RowChunks {
  int rows_per_chunk, chunks;
};
// A function of N only, so the summation order never depends on the device.
RowChunks row_chunks(int N) {
  int per = (N + kMaxRowChunks - 1) / kMaxRowChunks;
  if (per < kMinRowsPerChunk) per = kMinRowsPerChunk;
  const int chunks = N > 0 ? (N + per - 1) / per : 1;
  return {per, chunks};
}

// GEMM with an optional bias, falling back to a separate bias kernel if cuBLASLt has no BIAS
// epilogue algorithm for the shape.
void gemm_bias(GemmContext& ctx, Gemm g, const bf16* bias, int N, int OC, cudaStream_t stream) {
  g.bias = bias;
  g.epilogue = bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
  if (lt_matmul(ctx, g, stream)) return;
  require(bias != nullptr, g, "matmul_forward");
  ++ctx.epilogue_fallbacks;
  g.bias = nullptr;
  g.epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  require(lt_matmul(ctx, g, stream), g, "matmul_forward");
  const long n = long(N) * OC;
  add_bias_kernel<<<grid_for(n, 256), 256, 0, stream>>>(g.D, bias, n, OC);
  CUDA_CHECK_LAUNCH();
}

}  // namespace

GemmContext::GemmContext(size_t workspace_bytes) : workspace_bytes_(workspace_bytes) {
  CUBLAS_CHECK(cublasLtCreate(&handle_));
  if (workspace_bytes_) CUDA_CHECK(cudaMalloc(&workspace_, workspace_bytes_));
}

GemmContext::~GemmContext() {
  if (workspace_) cudaFree(workspace_);  // destructors must not throw: unchecked
  if (handle_) cublasLtDestroy(handle_);
}

void matmul_forward(GemmContext& ctx, bf16* out, bf16* pre_gelu, const bf16* inp,
                    const bf16* weight, const bf16* bias, int N, int C, int OC,
                    cudaStream_t stream) {
  FLAME_CHECK(N >= 0 && C > 0 && OC > 0, "N=" << N << " C=" << C << " OC=" << OC);
  FLAME_CHECK(out && inp && weight, "out, inp and weight are required");
  if (N == 0) return;
  Gemm g{CUBLAS_OP_T, CUBLAS_OP_N, OC, N, C, weight, C, inp, C, out, OC, 0.0f};
  if (!pre_gelu) {
    gemm_bias(ctx, g, bias, N, OC, stream);
    return;
  }
  FLAME_CHECK(OC % 8 == 0, "the GELU epilogue needs OC % 8 == 0 (aux leading dim), OC=" << OC);
  Gemm fused = g;
  fused.epilogue = bias ? CUBLASLT_EPILOGUE_GELU_AUX_BIAS : CUBLASLT_EPILOGUE_GELU_AUX;
  fused.bias = bias;
  fused.aux = pre_gelu;
  fused.aux_ld = OC;
  if (lt_matmul(ctx, fused, stream)) return;
  // Unfused: pre_gelu = inp @ W^T + b, then out = gelu(pre_gelu).
  ++ctx.epilogue_fallbacks;
  g.D = pre_gelu;
  gemm_bias(ctx, g, bias, N, OC, stream);
  gelu_forward(out, pre_gelu, long(N) * OC, stream);
}

size_t matmul_backward_scratch_bytes(int N, int OC) {
  return size_t(row_chunks(N).chunks) * size_t(OC) * sizeof(float);
}

void matmul_backward(GemmContext& ctx, bf16* dinp, bf16* dweight, bf16* dbias, float* scratch,
                     const bf16* dout, const bf16* inp, const bf16* weight,
                     const bf16* inp_pre_gelu, int N, int C, int OC, cudaStream_t stream) {
  FLAME_CHECK(N >= 0 && C > 0 && OC > 0, "N=" << N << " C=" << C << " OC=" << OC);
  FLAME_CHECK(dout, "dout is required");
  if (N == 0) return;
  if (dinp) {
    FLAME_CHECK(weight, "dinp needs weight");
    Gemm g{CUBLAS_OP_N, CUBLAS_OP_N, C, N, OC, weight, C, dout, OC, dinp, C, 0.0f};
    bool ran = false;
    if (inp_pre_gelu) {
      FLAME_CHECK(C % 8 == 0, "the DGELU epilogue needs C % 8 == 0 (aux leading dim), C=" << C);
      Gemm fused = g;
      fused.epilogue = CUBLASLT_EPILOGUE_DGELU;
      fused.aux = inp_pre_gelu;
      fused.aux_ld = C;
      ran = lt_matmul(ctx, fused, stream);
      if (!ran) ++ctx.epilogue_fallbacks;
    }
    if (!ran) {
      require(lt_matmul(ctx, g, stream), g, "matmul_backward dinp");
      // Unfused DGELU: dinp = dinp * gelu'(pre) in place (the kernel allows dinp == dout).
      if (inp_pre_gelu) gelu_backward(dinp, inp_pre_gelu, dinp, long(N) * C, stream);
    }
  }
  if (dweight) {
    FLAME_CHECK(inp, "dweight needs inp");
    Gemm g{CUBLAS_OP_N, CUBLAS_OP_T, C, OC, N, inp, C, dout, OC, dweight, C, 1.0f};
    require(lt_matmul(ctx, g, stream), g, "matmul_backward dweight");
  }
  if (dbias) {
    FLAME_CHECK(scratch, "dbias needs scratch (matmul_backward_scratch_bytes)");
    const RowChunks rc = row_chunks(N);
    dispatch_width(vector_width(OC, dout), [&](auto wc) {
      constexpr int W = decltype(wc)::value;
      const dim3 grid(unsigned((OC + 32 * W - 1) / (32 * W)), unsigned(rc.chunks));
      column_sums_kernel<W><<<grid, kWarps * 32, 0, stream>>>(scratch, dout, N, OC,
                                                              rc.rows_per_chunk);
    });
    CUDA_CHECK_LAUNCH();
    add_column_partials(dbias, scratch, rc.chunks, long(OC), OC, stream);
  }
}

}  // namespace flame::cuda
