// The x86 byte-dot-product GEMV (gemv_x86.h) for AVX-512 VNNI: one 64-byte chunk is m vpdpbusd
// (codes u8 x activations s8, four products summed into each int32 lane without saturation).
#include "kernels/gemv_x86.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "llmc/dtype.h"
#include "llmc/quant.h"

namespace llmc::kernels::x86 {
namespace {

#define LLMC_X86_TARGET __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))
#include "kernels/gemv_x86-inl.h"

struct Avx512Vnni {
  template <int kBits>
  LLMC_X86_TARGET static float RowDot(const uint8_t* p, const int8_t* x, const float* s, int64_t bytes) {
    constexpr int m = kCodesPerByte<kBits>;
    const __m512i mask = _mm512_set1_epi8(static_cast<char>((1 << kBits) - 1));
    // Lane j (bytes 4j..4j+3) belongs to subgroup 4j / subgroup bytes.
    const __m512i lane_subgroup = kBits == 2 ? _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7)
                                             : _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    __m512 acc = _mm512_setzero_ps();
    int64_t left = bytes;
    for (; left >= 64; left -= 64, p += 64, x += 64 * m, s += 64 / kSubgroupBytes<kBits>) {
      const __m512i codes = _mm512_loadu_si512(p);
      __m512i dot = _mm512_setzero_si512();
      for (int k = 0; k < m; ++k) {
        const __m512i c = _mm512_and_si512(_mm512_srli_epi16(codes, k * kBits), mask);
        dot = _mm512_dpbusd_epi32(dot, c, _mm512_loadu_si512(x + k * 64));
      }
      const __m512 scale = _mm512_permutexvar_ps(lane_subgroup, _mm512_loadu_ps(s));
      acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), scale, acc);
    }
    return _mm512_reduce_add_ps(acc) + TailDot<kBits>(p, x, s, left);
  }
};

#undef LLMC_X86_TARGET
}  // namespace

void GemvRowsAvx512Vnni(const MatMulArgs& a, const int8_t* xa, int64_t r0, int64_t r1) {
  GemvRowsWith<Avx512Vnni>(a, xa, r0, r1);
}

}  // namespace llmc::kernels::x86
#endif
