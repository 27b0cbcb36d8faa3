// The x86 byte-dot-product GEMV (gemv_x86.h) for AVX-512 VNNI: one 64-byte chunk is m vpdpbusd
// (codes u8 x activations s8, four products summed into each int32 lane without saturation), four
// rows per walk sharing the activation loads; a row's partial last chunk, and the scales and zeros
// of the last rows, are masked loads. Its own row loop (not gemv_x86-inl.h's RowsWith): scales of
// four rows convert in one pass and the zeros fold into the accumulator before its one reduction.
#include "kernels/gemv_x86.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "llmc/dtype.h"
#include "llmc/quant.h"

namespace llmc::kernels::x86 {
namespace {

#define LLMC_X86_TARGET __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))
#include "kernels/gemv_x86-inl.h"

constexpr int kRows = 4;

// The group scales of rows [r, r + n) as floats, contiguous (row i at i * groups), and per group
// s * z, the weight of the hoisted zero. Masked loads: the last rows need no copies.
LLMC_X86_TARGET inline void ConvertRowScales(const RowLayout& l, int64_t r, int64_t n, float* scales, float* zs) {
  const int64_t count = n * l.groups;
  const uint16_t* half = l.scales + r * l.groups;
  const uint8_t* zeros = l.zeros != nullptr ? l.zeros + r * l.groups : nullptr;
  for (int64_t k = 0; k < count; k += 16) {
    const __mmask16 m = count - k >= 16 ? __mmask16{0xFFFF} : static_cast<__mmask16>((1u << (count - k)) - 1);
    const __m512 s = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, half + k));
    const __m512 z = zeros != nullptr ? _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, zeros + k)))
                                      : _mm512_set1_ps(l.fixed_zero);
    _mm512_storeu_ps(scales + k, s);
    _mm512_storeu_ps(zs + k, _mm512_mul_ps(s, z));
  }
}

// Rows of 576 2-bit codes are 144 bytes: two whole chunks and a 16-byte tail, which alone would cost
// a full 64-byte step per row (576 4-bit codes: a 32-byte tail). MergedTail takes the tails of
// 64 / kSpan rows (kSpan = 16 or 32 bytes, at least the tail) as one vector, row i in lanes
// [i * kSpan, (i + 1) * kSpan) bytes, against the tail chunk's activations broadcast to every span,
// and adds each row's part to acc[i]. lane_group is the tail chunk's; `scales` start at the first
// row's tail group (as RowDots').
template <int kBits, int kSpan, bool kOneGroup>
LLMC_X86_TARGET inline void MergedTail(const uint8_t* p, int64_t row_bytes, int64_t tail, const int8_t* x, const float* xs,
                                       __m512i lane_group, const float* scales, int64_t groups, __m512* acc) {
  constexpr int m = kCodesPerByte<kBits>;
  constexpr int kLanes = kSpan / 4;  // int32 lanes per row
  __m512i codes;
  __m512 x_scale;
  if constexpr (kSpan == 16) {
    const auto in_tail = static_cast<__mmask16>((1u << tail) - 1);
    codes = _mm512_castsi128_si512(_mm_maskz_loadu_epi8(in_tail, p));
    codes = _mm512_inserti32x4(codes, _mm_maskz_loadu_epi8(in_tail, p + row_bytes), 1);
    codes = _mm512_inserti32x4(codes, _mm_maskz_loadu_epi8(in_tail, p + 2 * row_bytes), 2);
    codes = _mm512_inserti32x4(codes, _mm_maskz_loadu_epi8(in_tail, p + 3 * row_bytes), 3);
    x_scale = _mm512_broadcast_f32x4(_mm_loadu_ps(xs));
  } else {
    const auto in_tail = static_cast<__mmask32>(tail >= 32 ? ~0u : (1u << tail) - 1);
    codes = _mm512_castsi256_si512(_mm256_maskz_loadu_epi8(in_tail, p));
    codes = _mm512_inserti64x4(codes, _mm256_maskz_loadu_epi8(in_tail, p + row_bytes), 1);
    x_scale = _mm512_castpd_ps(_mm512_broadcast_f64x4(_mm256_castps_pd(_mm256_loadu_ps(xs))));
  }
  const __m512i mask = _mm512_set1_epi8(static_cast<char>((1 << kBits) - 1));
  __m512i dot[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()};
  for (int k = 0; k < m; ++k) {
    const __m512i c = kBits == 8 ? codes : _mm512_and_si512(_mm512_srli_epi16(codes, k * kBits), mask);
    __m512i x_span;
    if constexpr (kSpan == 16) {
      x_span = _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + k * 64)));
    } else {
      x_span = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + k * 64)));
    }
    dot[k & 1] = _mm512_dpbusd_epi32(dot[k & 1], c, x_span);
  }
  __m512 part = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(dot[0], dot[1])), x_scale);
  if constexpr (!kOneGroup) {
    // Lane j (row j / kLanes, tail lane j % kLanes) takes scales[(j / kLanes) * groups +
    // lane_group[j % kLanes]] of the 32 floats at `scales` (the caller checks they suffice); lanes
    // past the tail take none.
    alignas(64) int32_t index[16];
    alignas(64) int32_t lane[16];
    _mm512_store_si512(lane, lane_group);
    for (int j = 0; j < 16; ++j) index[j] = static_cast<int32_t>(j / kLanes * groups) + lane[j % kLanes];
    const unsigned row_lanes = (1u << (tail / 4)) - 1;
    const auto lanes_in_tail = static_cast<__mmask16>(kSpan == 16 ? row_lanes * 0x1111u : row_lanes * 0x0101u);
    const __m512 w_scale = _mm512_maskz_permutex2var_ps(lanes_in_tail, _mm512_loadu_ps(scales), _mm512_load_si512(index),
                                                        _mm512_loadu_ps(scales + 16));
    part = _mm512_mul_ps(part, w_scale);
  }
  for (int i = 0; i < 64 / kSpan; ++i) {
    acc[i] = _mm512_add_ps(acc[i], _mm512_maskz_mov_ps(static_cast<__mmask16>(((1u << kLanes) - 1) << (kLanes * i)), part));
  }
}

// The lane sums of four vectors, as four floats: pairs interleaved and added (each 128-bit block then
// holds partial sums of all four), then the four blocks added. One pass instead of four reductions.
LLMC_X86_TARGET inline __m128 ReduceFour(const __m512* v) {
  const __m512 ab = _mm512_add_ps(_mm512_unpacklo_ps(v[0], v[1]), _mm512_unpackhi_ps(v[0], v[1]));
  const __m512 cd = _mm512_add_ps(_mm512_unpacklo_ps(v[2], v[3]), _mm512_unpackhi_ps(v[2], v[3]));
  const __m512d abd = _mm512_castps_pd(ab), cdd = _mm512_castps_pd(cd);
  const __m512 abcd = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(abd, cdd)), _mm512_castpd_ps(_mm512_unpackhi_pd(abd, cdd)));
  const __m256 half = _mm256_add_ps(_mm512_castps512_ps256(abcd),
                                    _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(abcd), 1)));
  return _mm_add_ps(_mm256_castps256_ps128(half), _mm256_extractf128_ps(half, 1));
}

// R rows (consecutive, R <= kRows) walked together: each 64-byte chunk's m activation vectors, lane
// scales and lane-to-group index are loaded once for all R rows. out[i] = the row's
// sum over lanes of weight scale * activation block scale * integer dot, minus its hoisted zeros.
// kOneGroup (one scale per row, e.g. the 8-bit LM head): the weight scale multiplies the row's sum
// once at the end instead of every chunk.
template <int kBits, int R, bool kOneGroup>
LLMC_X86_TARGET inline void RowDots(const uint8_t* p, const Activations& xa, const float* scales, const float* zs,
                                    const float* xq_group_sums, const RowLayout& l, float* out) {
  constexpr int m = kCodesPerByte<kBits>;
  const __m512i mask = _mm512_set1_epi8(static_cast<char>((1 << kBits) - 1));
  const __m512i lane_subgroup = _mm512_loadu_si512(kLaneSubgroup<kBits>);
  const int log2 = l.log2_subgroups_per_group;
  const int8_t* x = xa.bytes.data();
  const float* xs = xa.lane_scales.data();
  __m512 acc[R];
  for (int i = 0; i < R; ++i) acc[i] = _mm512_setzero_ps();
  // The rows' short tails go through MergedTail (16-byte spans, four rows a vector; 32-byte spans,
  // two) when the scales one vector permutes lie within 32 floats.
  const int64_t tail = l.row_bytes % 64;
  const int64_t span = tail <= 16 ? 16 : 32;
  const bool merge_tail = R == kRows && tail > 0 && tail <= 32 && (kOneGroup || (64 / span - 1) * l.groups + span / 4 <= 32);
  const int64_t walked = merge_tail ? l.row_bytes - tail : l.row_bytes;
  int64_t b = 0, k0 = 0;
  for (; b < walked; b += 64, x += 64 * m, xs += 16, k0 += 64 / kSubgroupBytes<kBits>) {
    // The last chunk may be partial: its missing code bytes load as zero, and its lanes past the row
    // take no scale (so another row's scale, read past this one's groups, never enters).
    const int64_t left = l.row_bytes - b;
    const __mmask64 in_row = left >= 64 ? ~__mmask64{0} : (__mmask64{1} << left) - 1;
    const __mmask16 lanes_in_row = left >= 64 ? __mmask16{0xFFFF} : static_cast<__mmask16>((1u << (left / 4)) - 1);
    __m512i xv[m];
    for (int k = 0; k < m; ++k) xv[k] = _mm512_loadu_si512(x + k * 64);
    const __m512 x_scale = _mm512_loadu_ps(xs);
    // Lane j uses group (k0 + lane_subgroup[j]) >> log2, relative to group0 = k0 >> log2.
    const int64_t group0 = k0 >> log2;
    const __m512i first = _mm512_set1_epi32(static_cast<int32_t>(k0 - (group0 << log2)));
    const __m512i lane_group = _mm512_srli_epi32(_mm512_add_epi32(first, lane_subgroup), log2);
    for (int i = 0; i < R; ++i) {
      const __m512i codes = _mm512_maskz_loadu_epi8(in_row, p + i * l.row_bytes + b);
      // Two accumulators halve the vpdpbusd latency chain (m is 2 or 4).
      __m512i dot[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()};
      for (int k = 0; k < m; ++k) {
        const __m512i c = kBits == 8 ? codes : _mm512_and_si512(_mm512_srli_epi16(codes, k * kBits), mask);
        dot[k & 1] = _mm512_dpbusd_epi32(dot[k & 1], c, xv[k]);
      }
      const __m512 dot_f = _mm512_cvtepi32_ps(_mm512_add_epi32(dot[0], dot[1]));
      if constexpr (kOneGroup) {
        acc[i] = _mm512_fmadd_ps(dot_f, x_scale, acc[i]);  // lanes past the row: dot 0, x_scale 0
      } else {
        const __m512 w_scale =
            _mm512_maskz_permutexvar_ps(lanes_in_row, lane_group, _mm512_loadu_ps(scales + i * l.groups + group0));
        acc[i] = _mm512_fmadd_ps(dot_f, _mm512_mul_ps(w_scale, x_scale), acc[i]);
      }
    }
  }
  if (merge_tail) {
    const int64_t group0 = k0 >> log2;
    const __m512i first = _mm512_set1_epi32(static_cast<int32_t>(k0 - (group0 << log2)));
    const __m512i lane_group = _mm512_srli_epi32(_mm512_add_epi32(first, lane_subgroup), log2);
    if (span == 16) {
      MergedTail<kBits, 16, kOneGroup>(p + b, l.row_bytes, tail, x, xs, lane_group, scales + group0, l.groups, acc);
    } else {
      for (int i = 0; i < R; i += 2) {
        MergedTail<kBits, 32, kOneGroup>(p + i * l.row_bytes + b, l.row_bytes, tail, x, xs, lane_group,
                                         scales + i * l.groups + group0, l.groups, acc + i);
      }
    }
  }
  if constexpr (kOneGroup) {
    float sums[R];
    if constexpr (R == 4) {
      _mm_storeu_ps(sums, ReduceFour(acc));
    } else {
      for (int i = 0; i < R; ++i) sums[i] = _mm512_reduce_add_ps(acc[i]);
    }
    for (int i = 0; i < R; ++i) out[i] = scales[i] * sums[i] - zs[i] * xq_group_sums[0];
    return;
  }
  // The hoisted zeros, sum_g s_g * z_g * xsum_g, subtracted lane-wise before the one reduction.
  for (int i = 0; i < R; ++i) {
    for (int64_t g = 0; g < l.groups; g += 16) {
      const __mmask16 m16 = l.groups - g >= 16 ? __mmask16{0xFFFF} : static_cast<__mmask16>((1u << (l.groups - g)) - 1);
      acc[i] = _mm512_fnmadd_ps(_mm512_maskz_loadu_ps(m16, zs + i * l.groups + g), _mm512_maskz_loadu_ps(m16, xq_group_sums + g),
                                acc[i]);
    }
  }
  if constexpr (R == 4) {
    _mm_storeu_ps(out, ReduceFour(acc));
  } else {
    for (int i = 0; i < R; ++i) out[i] = _mm512_reduce_add_ps(acc[i]);
  }
}

// Rows [r0, r1): kRows at a time, then single rows. Which rows go four at a time depends only on r0
// (the front's fixed 16-row work items), never on the thread count.
template <int kBits, bool kOneGroup>
LLMC_X86_TARGET void Rows(const MatMulArgs& a, const Activations& xa, int64_t r0, int64_t r1) {
  const RowLayout l(*a.w);
  // Padded so that a 16-float scale load from any group of the last row, and MergedTail's 32-float
  // load from the first row's last group, stay inside; kept per thread (a call has a work item per
  // 16 rows: 3072 for the 49152-row LM head).
  thread_local std::vector<float> scales, zs;
  scales.assign(static_cast<size_t>(kRows * l.groups + 32), 0.0f);
  zs.assign(static_cast<size_t>(kRows * l.groups + 32), 0.0f);
  int64_t r = r0;
  for (; r + kRows <= r1; r += kRows) {
    PrefetchRows(l, r + 2 * kRows, kRows);  // two walks ahead
    ConvertRowScales(l, r, kRows, scales.data(), zs.data());
    RowDots<kBits, kRows, kOneGroup>(l.codes + r * l.row_bytes, xa, scales.data(), zs.data(), a.xq_group_sums, l, a.y + r);
  }
  for (; r < r1; ++r) {
    ConvertRowScales(l, r, 1, scales.data(), zs.data());
    RowDots<kBits, 1, kOneGroup>(l.codes + r * l.row_bytes, xa, scales.data(), zs.data(), a.xq_group_sums, l, a.y + r);
  }
}

#undef LLMC_X86_TARGET
}  // namespace

void GemvRowsAvx512Vnni(const MatMulArgs& a, const Activations& xa, int64_t r0, int64_t r1) {
  const bool one_group = a.w->groups_per_row() == 1;
  switch (a.w->quant.bits) {
    case 2: return one_group ? Rows<2, true>(a, xa, r0, r1) : Rows<2, false>(a, xa, r0, r1);
    case 4: return one_group ? Rows<4, true>(a, xa, r0, r1) : Rows<4, false>(a, xa, r0, r1);
    default: return one_group ? Rows<8, true>(a, xa, r0, r1) : Rows<8, false>(a, xa, r0, r1);  // IsaFor: 2/4/8 bits
  }
}

}  // namespace llmc::kernels::x86
#endif
