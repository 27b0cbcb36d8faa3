// The x86 byte-dot-product GEMV (gemv_x86.h) for AVX-512 VNNI: one 64-byte chunk is m vpdpbusd
// (codes u8 x activations s8, four products summed into each int32 lane without saturation); a
// row's partial last chunk is a masked load.
#include "kernels/gemv_x86.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "llmc/dtype.h"
#include "llmc/quant.h"

namespace llmc::kernels::x86 {
namespace {

#define LLMC_X86_TARGET __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))
#include "kernels/gemv_x86-inl.h"

struct Avx512Vnni {
  template <int kBits>
  LLMC_X86_TARGET static float RowDot(const uint8_t* p, const int8_t* x, const float* group_scales, const RowLayout& l) {
    constexpr int m = kCodesPerByte<kBits>;
    const __m512i mask = _mm512_set1_epi8(static_cast<char>((1 << kBits) - 1));
    const __m512i lane_subgroup = _mm512_loadu_si512(kLaneSubgroup<kBits>);
    const int log2 = l.log2_subgroups_per_group;
    __m512 acc = _mm512_setzero_ps();
    for (int64_t b = 0, k0 = 0; b < l.row_bytes; b += 64, p += 64, x += 64 * m, k0 += 64 / kSubgroupBytes<kBits>) {
      // The last chunk may be partial: its missing code bytes load as zero (and are never touched).
      const int64_t left = l.row_bytes - b;
      const __m512i codes = left >= 64 ? _mm512_loadu_si512(p) : _mm512_maskz_loadu_epi8((uint64_t{1} << left) - 1, p);
      // Two accumulators halve the vpdpbusd latency chain (m is 2 or 4).
      __m512i dot[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()};
      for (int k = 0; k < m; ++k) {
        const __m512i c = _mm512_and_si512(_mm512_srli_epi16(codes, k * kBits), mask);
        dot[k & 1] = _mm512_dpbusd_epi32(dot[k & 1], c, _mm512_loadu_si512(x + k * 64));
      }
      // Lane j uses group (k0 + lane_subgroup[j]) >> log2, relative to group0 = k0 >> log2.
      const int64_t group0 = k0 >> log2;
      const __m512i first = _mm512_set1_epi32(static_cast<int32_t>(k0 - (group0 << log2)));
      const __m512i lane_group = _mm512_srli_epi32(_mm512_add_epi32(first, lane_subgroup), log2);
      const __m512 scale = _mm512_permutexvar_ps(lane_group, _mm512_loadu_ps(group_scales + group0));
      acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(dot[0], dot[1])), scale, acc);
    }
    return _mm512_reduce_add_ps(acc);
  }
};

#undef LLMC_X86_TARGET
}  // namespace

void GemvRowsAvx512Vnni(const MatMulArgs& a, const int8_t* xa, int64_t r0, int64_t r1) {
  GemvRowsWith<Avx512Vnni>(a, xa, r0, r1);
}

}  // namespace llmc::kernels::x86
#endif
