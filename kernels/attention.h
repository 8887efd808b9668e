// Causal multi-head attention with grouped KV heads and packed-segment masking.
// Query head h uses KV head h / (Hq/Hkv). Token t attends to token s iff s <= t and
// seg[b,s] == seg[b,t]: packed examples never see each other. Scale 1/sqrt(D).
#pragma once
#include <cstdint>

namespace flame::cpu {

struct AttentionShape {
  int B, T;      // batch rows, sequence length
  int Hq, Hkv;   // query heads, key/value heads (Hq % Hkv == 0)
  int D;         // head dim
};

// qkv (B,T,(Hq+2*Hkv)*D): per token [q heads | k heads | v heads], each head D contiguous.
// seg (B,T) segment id per token (same id = same example; may be null = one segment per row).
// out (B,T,Hq*D); lse (B,Hq,T) log-sum-exp of the scaled scores per query (saved for backward).
void attention_forward(float* out, float* lse, const float* qkv, const int32_t* seg,
                       const AttentionShape& s);
// dqkv (B,T,(Hq+2*Hkv)*D) written; dout (B,T,Hq*D); out, lse from the forward.
void attention_backward(float* dqkv, const float* dout, const float* qkv, const float* out,
                        const float* lse, const int32_t* seg, const AttentionShape& s);

// Incremental decoding against a KV cache: n new tokens whose keys and values are already in the
// cache at rows [start, start+n). q (n, Hq*D) rotated queries; kcache, vcache (start+n, Hkv*D);
// new token i attends to rows [0, start+i] (causal, one sequence). out (n, Hq*D).
void attention_decode(float* out, const float* q, const float* kcache, const float* vcache,
                      int start, int n, int Hq, int Hkv, int D);

// ---- decoding against a KV cache, several sequences at once (both devices) ----
// Several sequences ("rows") decode at once: n new tokens, token i of cache row row[i] at position
// pos[i]. Per layer the cache holds kcache, vcache (rows, max_len, Hkv*D) (fp32 on the CPU, bf16 on the GPU): keys after RoPE
// and values, token p of row r at [r, p]. Any D that is a multiple of 32 up to 256.
struct DecodeShape {
  int n;              // new tokens (all rows together)
  int Hq, Hkv, D;     // query heads, key/value heads (Hq % Hkv == 0), head dim
  int rows, max_len;  // cache shape per layer
  long q_stride = 0;  // elements between consecutive tokens' q rows; 0 = Hq*D (packed)
};

// Token i attends to entries [0, pos[i]] of its cache row row[i] (its own k/v already there:
// append first); q (n, q_stride) rotated queries, Hq heads first; out (n, Hq*D). Per token this is
// the one-sequence attention_decode above.
void attention_decode(float* out, const float* q, const float* kcache, const float* vcache,
                      const int32_t* row, const int32_t* pos, const DecodeShape& s);
// Writes the k and v heads of qkv (n, (Hq+2*Hkv)*D) into kcache, vcache at [row[i], pos[i]].
void kv_cache_append(float* kcache, float* vcache, const float* qkv, const int32_t* row,
                     const int32_t* pos, const DecodeShape& s);

}  // namespace flame::cpu

#ifdef FLAME_WITH_CUDA
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>

// Fused flash-attention kernels (kernels/cuda/attention.cu): same semantics as the CPU reference
// above, bf16 tensors with fp32 accumulation; the T x T score matrix is never stored. Head dims
// D = 64 and 128 are instantiated (others fail with flame::Error). All pointers are device
// pointers, 16-byte aligned; work is queued on `stream`.
namespace flame::cuda {

using flame::cpu::AttentionShape;

// qkv (B,T,(Hq+2*Hkv)*D) bf16, seg (B,T) int32 or null -> out (B,T,Hq*D) bf16, lse (B,Hq,T) fp32.
void attention_forward(__nv_bfloat16* out, float* lse, const __nv_bfloat16* qkv,
                       const int32_t* seg, const AttentionShape& s, cudaStream_t stream);

// Scratch the backward needs: fp32 delta (B,Hq,T) = rowsum(dout * out); B*Hq*T*4 bytes.
size_t attention_backward_scratch_bytes(const AttentionShape& s);

// dqkv (B,T,(Hq+2*Hkv)*D) bf16 written (every element); dout (B,T,Hq*D) bf16; qkv, out, lse, seg
// as in (and from) the forward; scratch: attention_backward_scratch_bytes(s) bytes of device
// memory. Deterministic: no atomics, fixed summation order.
void attention_backward(__nv_bfloat16* dqkv, const __nv_bfloat16* dout,
                        const __nv_bfloat16* qkv, const __nv_bfloat16* out, const float* lse,
                        const int32_t* seg, void* scratch, const AttentionShape& s,
                        cudaStream_t stream);

using flame::cpu::DecodeShape;

// Token i attends to entries [0, pos[i]] of its row (its own k/v already there: append first),
// fp32 scores and online softmax, scale 1/sqrt(D), query head h reads KV head h / (Hq/Hkv).
// q (n, q_stride) rotated queries, the Hq heads first (q_stride = (Hq+2*Hkv)*D reads them in
// place from qkv); row, pos (n) int32 on the device, in range (not checked on the device: the
// caller checks them on the host). out (n, Hq*D) bf16.
void attention_decode(__nv_bfloat16* out, const __nv_bfloat16* q, const __nv_bfloat16* kcache,
                      const __nv_bfloat16* vcache, const int32_t* row, const int32_t* pos,
                      const DecodeShape& s, cudaStream_t stream);

// Writes the k and v heads of qkv (n, (Hq+2*Hkv)*D) (rotated keys, values) into kcache, vcache
// at [row[i], pos[i]] (s.q_stride is ignored).
void kv_cache_append(__nv_bfloat16* kcache, __nv_bfloat16* vcache, const __nv_bfloat16* qkv,
                     const int32_t* row, const int32_t* pos, const DecodeShape& s,
                     cudaStream_t stream);

}  // namespace flame::cuda
#endif  // FLAME_WITH_CUDA
