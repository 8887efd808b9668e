// Host conversions between fp32 and the 16-bit float formats (bit-level, round to nearest even),
// for checkpoints (safetensors bf16/f16), downloads of bf16 device tensors and tests.
#pragma once
#include <bit>
#include <cstddef>
#include <cstdint>

namespace flame {


inline uint16_t f32_to_bf16(float x) {
  const uint32_t u = std::bit_cast<uint32_t>(x);
  // NaN: keep the sign and the top payload bits and force the quiet bit, so rounding can never
  // carry a NaN into infinity.
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return uint16_t((u >> 16) | 0x0040u);
  // Adding 0x7FFF plus the lowest kept bit rounds to nearest with ties to even; a carry out of
  // the mantissa correctly bumps the exponent (up to infinity for the largest floats).
  return uint16_t((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

inline float bf16_to_f32(uint16_t x) { return std::bit_cast<float>(uint32_t(x) << 16); }

inline uint16_t f32_to_f16(float x) {
  const uint32_t u = std::bit_cast<uint32_t>(x);
  const uint16_t sign = uint16_t((u >> 16) & 0x8000u);
  const uint32_t a = u & 0x7FFFFFFFu;
  if (a > 0x7F800000u) return uint16_t(sign | 0x7E00u | ((a >> 13) & 0x03FFu));  // quiet NaN
  if (a == 0x7F800000u) return uint16_t(sign | 0x7C00u);                         // infinity
  const int e = int(a >> 23) - 127;             // unbiased exponent
  if (e > 15) return uint16_t(sign | 0x7C00u);  // >= 2^16: beyond rounding range, infinity
  if (e >= -14) {                               // normal half
    const uint32_t mant = a & 0x7FFFFFu;
    uint32_t h = (uint32_t(e + 15) << 10) | (mant >> 13);
    const uint32_t rest = mant & 0x1FFFu;
    // A carry out of the mantissa moves to the next exponent (65520 and up become infinity).
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;
    return uint16_t(sign | h);
  }
  if (e < -25) return sign;  // below half the smallest subnormal (2^-25): rounds to zero
  // Subnormal half: count units of 2^-24. The value is sig * 2^(e-23) with the implicit bit, so
  // it is sig >> (-e-1) units, with the shifted-out bits deciding the rounding.
  const uint32_t sig = (a & 0x7FFFFFu) | 0x800000u;
  const int shift = -e - 1;  // 14..24
  uint32_t h = sig >> shift;
  const uint32_t rest = sig & ((1u << shift) - 1u), half = 1u << (shift - 1);
  if (rest > half || (rest == half && (h & 1u))) ++h;  // may carry into the smallest normal
  return uint16_t(sign | h);
}

inline float f16_to_f32(uint16_t x) {
  const uint32_t sign = uint32_t(x & 0x8000u) << 16;
  const uint32_t exp = (x >> 10) & 0x1Fu, mant = x & 0x03FFu;
  if (exp == 0x1Fu) return std::bit_cast<float>(sign | 0x7F800000u | (mant << 13));  // inf/NaN
  if (exp == 0) {  // zero or subnormal: mant * 2^-24, exact in float
    const float v = float(mant) * 0x1p-24f;
    return sign ? -v : v;
  }
  return std::bit_cast<float>(sign | ((exp + 112u) << 23) | (mant << 13));
}

// x rounded to the nearest bf16 (ties to even, as __float2bfloat16_rn), kept as fp32.
inline float round_to_bf16(float x) { return bf16_to_f32(f32_to_bf16(x)); }

// out (n) = fp32 of the bf16 bit patterns in (n) (exact).
inline void bf16_to_f32(float* out, const uint16_t* in, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = bf16_to_f32(in[i]);
}

}  // namespace flame
