// Token + learned position embedding in bf16.
// Forward: elementwise over (N,C): out[n, c] = wte[tokens[n], c] + wpe[pos[n], c], 8 channels
// per access when C % 8 == 0 and the pointers are 16-byte aligned.
// Backward, deterministic (no atomics), once per table (ids = tokens for wte, pos for wpe):
//   1. rows = 0..N-1; cub::DeviceRadixSort::SortPairs sorts (id, row) by id. Radix sort is stable,
//      so the rows of one id stay ascending: the sorted order is a pure function of the ids.
//   2. Blocks (per chunk of 32*W channels) stride over the sorted indices s; at an s that starts a
//      run of equal ids (s == 0 or id[s-1] != id[s]) the block sums dout over the run's rows in
//      fp32 (warp w takes run rows w, w+8, w+16, ...; the 8 warp sums are folded in warp order)
//      and adds the total into the bf16 table row once; other indices cost two key loads.
//      Each run is summed by one block in a fixed order, whatever the grid: deterministic.
// Workspace layout (256-byte aligned pieces): sorted ids (N), row iota (N), sorted rows (N), CUB
// temporary storage.
#include "kernels/embedding.h"

#include <cub/device/device_radix_sort.cuh>

#include "kernels/cuda/common.cuh"

namespace flame::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kRunWarps = 8;     // warps sharing one run of equal ids
constexpr int kRunBlocks = 2048;  // blocks striding over the sorted indices (per channel chunk)

template <int W>
__global__ void embedding_forward_kernel(bf16* out, const int32_t* tokens, const int32_t* pos,
                                         const bf16* wte, const bf16* wpe, long n, int C) {
  grid_stride_packs<W>(n, [&](long e, auto width) {
    constexpr int V = decltype(width)::value;
    const long row = e / C, c = e % C;
    float x[V];
    load_bf16<V>(x, wte + long(tokens[row]) * C + c);
    if (wpe) {
      float p[V];
      load_bf16<V>(p, wpe + long(pos[row]) * C + c);
#pragma unroll
      for (int k = 0; k < V; ++k) x[k] += p[k];
    }
    store_bf16<V>(out + e, x);
  });
}

__global__ void iota_kernel(int32_t* x, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) x[i] = i;
}

// grid (min(N, kRunBlocks), ceil(C / (32*W))), block kRunWarps warps; keys (N) sorted ids, rows
// (N) their rows. Blocks stride over the sorted indices; an index that starts a run is handled by
// that block alone, whatever the grid: the sum order of a run is fixed.
template <int W>
__global__ void __launch_bounds__(kRunWarps * 32)
    scatter_runs_kernel(bf16* table, const bf16* dout, const int32_t* keys, const int32_t* rows,
                        int N, int C) {
  __shared__ float warp_sums[kRunWarps][32 * W];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int chunk = blockIdx.y * 32 * W;  // first channel of this block
  const int c = chunk + lane * W;         // this lane's W channels
  for (int start = blockIdx.x; start < N; start += gridDim.x) {
    const int key = keys[start];
    if (start > 0 && keys[start - 1] == key) continue;  // block-uniform: not a run start
    float acc[W] = {};
    if (c < C) {  // with W = 8, C % 8 == 0, so c < C implies c + 8 <= C
      for (int j = start + warp; j < N && keys[j] == key; j += kRunWarps) {
        float g[W];
        load_bf16<W>(g, dout + long(rows[j]) * C + c);
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
      for (int w = 0; w < kRunWarps; ++w) sum += warp_sums[w][t];
      bf16* dst = table + long(key) * C + chunk + t;
      *dst = to_bf16(to_f32(*dst) + sum);
    }
    __syncthreads();  // warp_sums is reused for the next run
  }
}

size_t align256(size_t x) { return (x + 255) & ~size_t(255); }

size_t cub_temp_bytes(int N) {
  size_t bytes = 0;
  CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, bytes, static_cast<const int32_t*>(nullptr),
                                             static_cast<int32_t*>(nullptr),
                                             static_cast<const int32_t*>(nullptr),
                                             static_cast<int32_t*>(nullptr), N));
  return bytes;
}

}  // namespace

void embedding_forward(bf16* out, const int32_t* tokens, const int32_t* pos, const bf16* wte,
                       const bf16* wpe, int N, int C, cudaStream_t stream) {
  FLAME_CHECK(N >= 0 && C > 0, "N=" << N << " C=" << C);
  FLAME_CHECK(out && tokens && wte && (!wpe || pos), "out, tokens, wte (and pos with wpe)");
  if (N == 0) return;
  const long n = long(N) * C;
  dispatch_width(vector_width(C, out, wte, wpe), [&](auto wc) {
    constexpr int W = decltype(wc)::value;
    embedding_forward_kernel<W><<<grid_for(n / W + 1, kThreads), kThreads, 0, stream>>>(
        out, tokens, pos, wte, wpe, n, C);
  });
  CUDA_CHECK_LAUNCH();
}

size_t embedding_backward_workspace_bytes(int N) {
  FLAME_CHECK(N >= 0, "N=" << N);
  return 3 * align256(size_t(N) * sizeof(int32_t)) + align256(cub_temp_bytes(N));
}

void embedding_backward(bf16* dwte, bf16* dwpe, const bf16* dout, const int32_t* tokens,
                        const int32_t* pos, int N, int C, void* workspace,
                        size_t workspace_bytes, cudaStream_t stream) {
  FLAME_CHECK(N >= 0 && C > 0, "N=" << N << " C=" << C);
  FLAME_CHECK(dwte && dout && tokens && (!dwpe || pos), "dwte, dout, tokens (and pos with dwpe)");
  if (N == 0) return;
  const size_t need = embedding_backward_workspace_bytes(N);
  FLAME_CHECK(workspace && workspace_bytes >= need,
              "embedding_backward needs " << need << " bytes of workspace, got "
                                          << workspace_bytes);
  char* ws = static_cast<char*>(workspace);
  const size_t ids_bytes = align256(size_t(N) * sizeof(int32_t));
  int32_t* sorted_ids = reinterpret_cast<int32_t*>(ws);
  int32_t* iota = reinterpret_cast<int32_t*>(ws + ids_bytes);
  int32_t* sorted_rows = reinterpret_cast<int32_t*>(ws + 2 * ids_bytes);
  void* cub_temp = ws + 3 * ids_bytes;
  size_t cub_bytes = workspace_bytes - 3 * ids_bytes;

  iota_kernel<<<(N + kThreads - 1) / kThreads, kThreads, 0, stream>>>(iota, N);
  CUDA_CHECK_LAUNCH();
  const int width = vector_width(C, dout, dwte, dwpe);
  const int chunk = 32 * width;
  FLAME_CHECK((C + chunk - 1) / chunk <= 65535, "C=" << C << " too large for the grid");
  const dim3 grid(unsigned(N < kRunBlocks ? N : kRunBlocks), unsigned((C + chunk - 1) / chunk));

  auto scatter = [&](bf16* table, const int32_t* ids) {
    CUDA_CHECK(cub::DeviceRadixSort::SortPairs(cub_temp, cub_bytes, ids, sorted_ids, iota,
                                               sorted_rows, N, 0, int(sizeof(int32_t) * 8),
                                               stream));
    dispatch_width(width, [&](auto wc) {
      constexpr int W = decltype(wc)::value;
      scatter_runs_kernel<W><<<grid, kRunWarps * 32, 0, stream>>>(table, dout, sorted_ids,
                                                                  sorted_rows, N, C);
    });
    CUDA_CHECK_LAUNCH();
  };
  scatter(dwte, tokens);
  if (dwpe) scatter(dwpe, pos);
}

}  // namespace flame::cuda
