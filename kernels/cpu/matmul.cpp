// Linear layer out = inp @ W^T + b (W is (OC,C), as nn.Linear) via row-major cblas_sgemm:
// forward is one GEMM (NoTrans x Trans) plus a bias broadcast; backward is dinp = dout @ W
// (beta 0: written) and dW += dout^T @ inp (beta 1: accumulated); dbias is a column sum.
// Threading is left to OpenBLAS: this file opens no OpenMP regions.
#include "kernels/matmul.h"

#include <algorithm>

#ifndef FLAME_NO_BLAS
#include <cblas.h>
#else
// No BLAS on this machine (CMake found none): a plain OpenMP GEMM with the same row-major
// contract as cblas_sgemm, so results stay right, only slower.
enum CBLAS_ORDER { CblasRowMajor };
enum CBLAS_TRANSPOSE { CblasNoTrans, CblasTrans };
static void cblas_sgemm(CBLAS_ORDER, CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K,
                        float alpha, const float* A, int lda, const float* B, int ldb, float beta,
                        float* C, int ldc) {
#pragma omp parallel for schedule(static)
  for (int i = 0; i < M; ++i) {
    for (int j = 0; j < N; ++j) {
      float acc = 0.f;
      for (int k = 0; k < K; ++k) {
        const float a = ta == CblasNoTrans ? A[long(i) * lda + k] : A[long(k) * lda + i];
        const float b = tb == CblasNoTrans ? B[long(k) * ldb + j] : B[long(j) * ldb + k];
        acc += a * b;
      }
      float& c = C[long(i) * ldc + j];
      c = alpha * acc + (beta == 0.f ? 0.f : beta * c);
    }
  }
}
#endif

namespace flame::cpu {

void matmul_forward(float* out, const float* inp, const float* weight, const float* bias, int N,
                    int C, int OC) {
  if (N == 0 || OC == 0) return;
  float beta = 0.0f;
  if (bias) {
    // Seed out with the bias rows so the GEMM adds into it (beta 1): no second pass over out.
    // Serial on purpose: the copy is tiny next to the GEMM, and an OpenMP team here would spin
    // against OpenBLAS's own threads.
    for (int n = 0; n < N; ++n) std::copy(bias, bias + OC, out + long(n) * OC);
    beta = 1.0f;
  }
  // out (N,OC) = inp (N,C) @ weight^T (C,OC)
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, C, 1.0f, inp, C, weight, C, beta,
              out, OC);
}

void matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout,
                     const float* inp, const float* weight, int N, int C, int OC) {
  if (N == 0) return;
  if (dinp) {
    // dinp (N,C) = dout (N,OC) @ weight (OC,C)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, C, OC, 1.0f, dout, OC, weight, C,
                0.0f, dinp, C);
  }
  if (dweight) {
    // dweight (OC,C) += dout^T (OC,N) @ inp (N,C)
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, C, N, 1.0f, dout, OC, inp, C, 1.0f,
                dweight, C);
  }
  if (dbias) {
    // Column sums of dout, a block of output channels at a time so the inner loop stays
    // contiguous and vectorizes. Serial for the same reason as the bias copy above.
    constexpr int kBlock = 64;
    const int n_blocks = (OC + kBlock - 1) / kBlock;
    for (int blk = 0; blk < n_blocks; ++blk) {
      const int o0 = blk * kBlock, o1 = std::min(OC, o0 + kBlock);
      double acc[kBlock] = {};
      for (int n = 0; n < N; ++n) {
        const float* g = dout + long(n) * OC;
        for (int o = o0; o < o1; ++o) acc[o - o0] += g[o];
      }
      for (int o = o0; o < o1; ++o) dbias[o] += float(acc[o - o0]);
    }
  }
}

}  // namespace flame::cpu
