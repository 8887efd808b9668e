// CUDA-side error checks: one macro per library, each reporting expression, file and line by
// throwing flame::Error (see core/error.h). Only included where FLAME_WITH_CUDA is defined.
#pragma once
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "core/error.h"

#define CUDA_CHECK(expr)                                                               \
  do {                                                                                 \
    cudaError_t flame_err_ = (expr);                                                   \
    if (flame_err_ != cudaSuccess)                                                     \
      ::flame::fail_check("CUDA", #expr, cudaGetErrorString(flame_err_), __FILE__, __LINE__); \
  } while (0)

#define CUBLAS_CHECK(expr)                                                             \
  do {                                                                                 \
    cublasStatus_t flame_st_ = (expr);                                                 \
    if (flame_st_ != CUBLAS_STATUS_SUCCESS)                                            \
      ::flame::fail_check("cuBLAS", #expr, cublasGetStatusString(flame_st_), __FILE__, __LINE__); \
  } while (0)

// After a kernel launch: catches bad launch configurations at the call site.
#define CUDA_CHECK_LAUNCH() CUDA_CHECK(cudaGetLastError())

namespace flame::cuda {

// True when a CUDA device is usable (tests GTEST_SKIP() otherwise).
inline bool device_available() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

}  // namespace flame::cuda
