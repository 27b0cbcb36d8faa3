// The x86 byte-dot-product GEMV (gemv_x86.h) for AVX-512 VNNI: one 64-byte chunk is m vpdpbusd
// (codes u8 x activations s8, four products summed into each int32 lane without saturation), four
// rows per walk sharing the activation loads; a row's partial last chunk, and the scales and zeros
// of the last rows, are masked loads. Its own row loop (not gemv_x86-inl.h's RowsWith): a row's
// group scales are held 16 at a time in one register (no scratch buffers, no stores to reload), short
// row tails of four rows share one vector, and the zeros fold into the accumulator before its one
// reduction.
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

constexpr int kRows = 4;

// What every walk of a call shares, worked out once per call. A row's group scales are read 16 at a
// time into one register per row (a "window" of groups 16w..16w+15), which a chunk's lanes permute:
// a chunk's groups never straddle two windows (it covers 2^k groups from a multiple of 2^k, or lies
// inside one group), so the walk moves to the next window only between chunks.
struct Plan {
  LLMC_X86_TARGET Plan(const RowLayout& l, int bits)
      : lane_subgroup(_mm512_loadu_si512(bits == 2 ? kLaneSubgroup<2> : bits == 4 ? kLaneSubgroup<4> : kLaneSubgroup<8>)),
        tail(l.row_bytes % 64),
        span(tail <= 16 ? 16 : 32),
        // Four rows' 16-byte tails (two rows' 32-byte ones) make one vector.
        merge_tail(tail > 0 && tail <= 32),
        walked(merge_tail ? l.row_bytes - tail : l.row_bytes),
        tail_window(0),
        tail_group(_mm512_setzero_si512()) {
    if (!merge_tail || l.groups == 1) return;
    // Tail lane j (of each row's span) lies in subgroup walked / subgroup bytes + lane_subgroup[j].
    const int64_t k0 = walked / (4 * bits);
    const int log2 = l.log2_subgroups_per_group;
    tail_window = (k0 >> log2) / 16 * 16;
    const __m512i lane_group = _mm512_srli_epi32(
        _mm512_add_epi32(_mm512_set1_epi32(static_cast<int32_t>(k0 - (tail_window << log2))), lane_subgroup), log2);
    const int64_t lanes = span / 4;
    alignas(64) int32_t groups[16];
    alignas(64) int32_t repeated[16];
    _mm512_store_si512(groups, lane_group);
    for (int j = 0; j < 16; ++j) repeated[j] = groups[j % lanes];
    tail_group = _mm512_load_si512(repeated);
  }

  __m512i lane_subgroup;  // kLaneSubgroup<bits>
  int64_t tail;           // bytes of a row past its last whole chunk
  int64_t span;           // bytes a row takes in a merged tail vector: 16 or 32
  bool merge_tail;
  int64_t walked;         // bytes of each row walked chunk by chunk
  int64_t tail_window;    // the window of the merged tail's groups
  __m512i tail_group;     // group of each merged tail lane in its window, repeated per row
};

// 2-bit codes times their activations xv[k] (code k of every byte), with two shifts instead of three
// (on Cascade Lake shifts and vpdpbusd compete for one port): the bytes shifted down a nibble once and
// each nibble's two codes masked in place. even += codes 0 and 2; odd4 += codes 1 and 3, which enter
// four times too large, so the caller shifts odd4 back once (exact: it holds four times an integer).
LLMC_X86_TARGET inline void AddTwoBitDots(__m512i codes, const __m512i* xv, __m512i& even, __m512i& odd4) {
  const __m512i low2 = _mm512_set1_epi8(0x03), high2 = _mm512_set1_epi8(0x0C);
  const __m512i nibbles_hi = _mm512_srli_epi16(codes, 4);
  even = _mm512_dpbusd_epi32(even, _mm512_and_si512(codes, low2), xv[0]);
  odd4 = _mm512_dpbusd_epi32(odd4, _mm512_and_si512(codes, high2), xv[1]);
  even = _mm512_dpbusd_epi32(even, _mm512_and_si512(nibbles_hi, low2), xv[2]);
  odd4 = _mm512_dpbusd_epi32(odd4, _mm512_and_si512(nibbles_hi, high2), xv[3]);
}

// The int32 lane sums of one 64-byte chunk of codes times its m activation vectors. Two accumulators
// halve the vpdpbusd latency chain.
template <int kBits>
LLMC_X86_TARGET inline __m512i ChunkDot(__m512i codes, const __m512i* xv) {
  if constexpr (kBits == 2) {
    __m512i even = _mm512_setzero_si512(), odd4 = _mm512_setzero_si512();
    AddTwoBitDots(codes, xv, even, odd4);
    return _mm512_add_epi32(even, _mm512_srai_epi32(odd4, 2));
  } else {
    constexpr int m = kCodesPerByte<kBits>;
    const __m512i mask = _mm512_set1_epi8(static_cast<char>((1 << kBits) - 1));
    __m512i dot[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()};
    for (int k = 0; k < m; ++k) {
      const __m512i c = kBits == 8 ? codes : _mm512_and_si512(_mm512_srli_epi16(codes, k * kBits), mask);
      dot[k & 1] = _mm512_dpbusd_epi32(dot[k & 1], c, xv[k]);
    }
    return _mm512_add_epi32(dot[0], dot[1]);
  }
}

// The tails of 64 / span rows (span = 16 or 32 bytes, at least the tail) as one vector, row i in
// bytes [i * span, (i + 1) * span), against the tail chunk's activations broadcast to every span;
// row i's part goes to acc[i]. s[i]: row i's scale window (the tail's); kOneGroup: none applied.
template <int kBits, bool kOneGroup, int kSpan>
LLMC_X86_TARGET inline void MergedTail(const Plan& plan, const uint8_t* p, int64_t row_bytes, const int8_t* x, const float* xs,
                                       const __m512* s, __m512* acc) {
  constexpr int m = kCodesPerByte<kBits>;
  constexpr int kTailRows = 64 / kSpan;
  constexpr int kLanes = kSpan / 4;  // int32 lanes per row
  const int64_t tail = plan.tail;
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
  __m512i x_spans[m];
  for (int k = 0; k < m; ++k) {
    x_spans[k] = kSpan == 16 ? _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + k * 64)))
                             : _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + k * 64)));
  }
  const __m512 part = _mm512_mul_ps(_mm512_cvtepi32_ps(ChunkDot<kBits>(codes, x_spans)), x_scale);
  const unsigned row_lanes = (1u << (tail / 4)) - 1;  // a row's lanes inside the tail
  for (int i = 0; i < kTailRows; ++i) {
    const auto mine = static_cast<__mmask16>(row_lanes << (kLanes * i));
    if constexpr (!kOneGroup) {
      acc[i] = _mm512_mask3_fmadd_ps(part, _mm512_maskz_permutexvar_ps(mine, plan.tail_group, s[i]), acc[i], mine);
    } else {
      acc[i] = _mm512_mask_add_ps(acc[i], mine, acc[i], part);
    }
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

// Sixteen group scales of the tensor from flat group index g on, as floats (lanes past `in` zero),
// and the matching zero points (or the grid's fixed zero).
LLMC_X86_TARGET inline __m512 GroupScales(const RowLayout& l, int64_t g, __mmask16 in) {
  return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(in, l.scales + g));
}
LLMC_X86_TARGET inline __m512 GroupZeros(const RowLayout& l, int64_t g, __mmask16 in) {
  return l.zeros != nullptr ? _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(in, l.zeros + g)))
                            : _mm512_set1_ps(l.fixed_zero);
}

// Lanes [0, n) of 16, n clamped to [0, 16].
inline __mmask16 FirstLanes(int64_t n) {
  return n >= 16 ? __mmask16{0xFFFF} : n <= 0 ? __mmask16{0} : static_cast<__mmask16>((1u << n) - 1);
}

// Row r's scales of groups [w, w + 16) as floats (lanes past the row's groups zero), and the zeros
// of those groups, sum_g s_g * z_g * xsum_g, subtracted from acc lane-wise.
LLMC_X86_TARGET inline __m512 LoadWindow(const RowLayout& l, int64_t r, int64_t w, const float* xq_group_sums, __m512& acc) {
  const __mmask16 in = FirstLanes(l.groups - w);
  const int64_t flat = r * l.groups + w;
  const __m512 s = GroupScales(l, flat, in);
  acc = _mm512_fnmadd_ps(_mm512_mul_ps(s, GroupZeros(l, flat, in)), _mm512_maskz_loadu_ps(in, xq_group_sums + w), acc);
  return s;
}

// R rows from row r (consecutive, R <= kRows) walked together: each 64-byte chunk's m activation
// vectors, lane scales and lane-to-group index are loaded once for all R rows. out[i] = the row's sum
// over lanes of weight scale * activation block scale * integer dot, minus its hoisted zeros.
// kOneGroup (one scale per row, e.g. the 8-bit LM head): the weight scale multiplies the row's sum
// once at the end instead of every chunk.
template <int kBits, int R, bool kOneGroup>
LLMC_X86_TARGET inline void RowDots(const Plan& plan, const RowLayout& l, const Activations& xa, const float* xq_group_sums,
                                    int64_t r, float* out) {
  constexpr int m = kCodesPerByte<kBits>;
  const int log2 = l.log2_subgroups_per_group;
  const uint8_t* p = l.codes + r * l.row_bytes;
  const int8_t* x = xa.bytes.data();
  const float* xs = xa.lane_scales.data();
  __m512 s[R], acc[R];
  int64_t window = 0;
  for (int i = 0; i < R; ++i) {
    acc[i] = _mm512_setzero_ps();
    if constexpr (!kOneGroup) s[i] = LoadWindow(l, r + i, window, xq_group_sums, acc[i]);
  }
  const bool merge_tail = R == kRows && plan.merge_tail;
  const int64_t walked = merge_tail ? plan.walked : l.row_bytes;
  int64_t b = 0, k0 = 0;
  for (; b < walked; b += 64, x += 64 * m, xs += 16, k0 += 64 / kSubgroupBytes<kBits>) {
    // The last chunk may be partial: its missing code bytes load as zero, and its lanes past the row
    // take no scale (so a scale read past this row's groups never enters).
    const int64_t left = l.row_bytes - b;
    const __mmask64 in_row = left >= 64 ? ~__mmask64{0} : (__mmask64{1} << left) - 1;
    const __mmask16 lanes_in_row = FirstLanes(left / 4);
    __m512i xv[m];
    for (int k = 0; k < m; ++k) xv[k] = _mm512_loadu_si512(x + k * 64);
    const __m512 x_scale = _mm512_loadu_ps(xs);
    __m512i lane_group;  // lane j's group in the window: (k0 + lane_subgroup[j]) >> log2, less the window's first
    if constexpr (!kOneGroup) {
      if ((k0 >> log2) >= window + 16) {
        window += 16;
        for (int i = 0; i < R; ++i) s[i] = LoadWindow(l, r + i, window, xq_group_sums, acc[i]);
      }
      lane_group = _mm512_srli_epi32(
          _mm512_add_epi32(_mm512_set1_epi32(static_cast<int32_t>(k0 - (window << log2))), plan.lane_subgroup), log2);
    }
    for (int i = 0; i < R; ++i) {
      const __m512i codes = _mm512_maskz_loadu_epi8(in_row, p + i * l.row_bytes + b);
      const __m512 dot_f = _mm512_cvtepi32_ps(ChunkDot<kBits>(codes, xv));
      if constexpr (kOneGroup) {
        acc[i] = _mm512_fmadd_ps(dot_f, x_scale, acc[i]);  // lanes past the row: dot 0, x_scale 0
      } else {
        const __m512 w_scale = _mm512_maskz_permutexvar_ps(lanes_in_row, lane_group, s[i]);
        acc[i] = _mm512_fmadd_ps(dot_f, _mm512_mul_ps(w_scale, x_scale), acc[i]);
      }
    }
  }
  if (merge_tail) {
    if constexpr (!kOneGroup) {
      if (plan.tail_window != window) {
        window = plan.tail_window;
        for (int i = 0; i < R; ++i) s[i] = LoadWindow(l, r + i, window, xq_group_sums, acc[i]);
      }
    }
    if (plan.span == 16) {
      MergedTail<kBits, kOneGroup, 16>(plan, p + b, l.row_bytes, x, xs, s, acc);
    } else {
      MergedTail<kBits, kOneGroup, 32>(plan, p + b, l.row_bytes, x, xs, s, acc);
      MergedTail<kBits, kOneGroup, 32>(plan, p + 2 * l.row_bytes + b, l.row_bytes, x, xs, s + 2, acc + 2);
    }
  }
  float sums[R];
  if constexpr (R == 4) {
    _mm_storeu_ps(sums, ReduceFour(acc));
  } else {
    for (int i = 0; i < R; ++i) sums[i] = _mm512_reduce_add_ps(acc[i]);
  }
  for (int i = 0; i < R; ++i) {
    if constexpr (kOneGroup) {
      const int64_t g = r + i;  // one group per row
      const float scale = _cvtsh_ss(l.scales[g]);
      const float zero = l.zeros != nullptr ? static_cast<float>(l.zeros[g]) : l.fixed_zero;
      out[i] = scale * sums[i] - scale * zero * xq_group_sums[0];
    } else {
      out[i] = sums[i];
    }
  }
}

// Tile order (CodeOrder::kTiles16), 2-, 4- and 8-bit codes: the tile's vector j holds bytes 4j..4j+3 of
// its 16 rows, lane i row i. Code k of those bytes meets the activations at xa.bytes[(j / 16) * 64m +
// k * 64 + 4 * (j % 16)] (m codes per byte: the chunk interleave already puts them side by side), one
// broadcast dword for all 16 rows. A block (32 codes: 32 / m bytes, 8 / m vectors) is summed in int32
// and scaled by its activation scale; a group's blocks then by the 16 rows' group scales, which tile
// order keeps side by side, less their hoisted zeros. No per-row reduction, window or tail.
LLMC_X86_TARGET inline __m512i BroadcastDword(const int8_t* p) {
  int32_t dword;
  std::memcpy(&dword, p, sizeof(dword));
  return _mm512_set1_epi32(dword);
}

// The int32 dots of one block's vectors v[0, 8 / m) with the activations of their dwords (x: the
// first vector's, code 0).
template <int kBits>
LLMC_X86_TARGET inline __m512i TileBlockDot(const uint8_t* v, const int8_t* x) {
  if constexpr (kBits == 2) {
    __m512i even = _mm512_setzero_si512(), odd4 = _mm512_setzero_si512();
    const __m512i x0[4] = {BroadcastDword(x), BroadcastDword(x + 64), BroadcastDword(x + 128), BroadcastDword(x + 192)};
    AddTwoBitDots(_mm512_loadu_si512(v), x0, even, odd4);
    const __m512i x1[4] = {BroadcastDword(x + 4), BroadcastDword(x + 68), BroadcastDword(x + 132),
                           BroadcastDword(x + 196)};
    AddTwoBitDots(_mm512_loadu_si512(v + 64), x1, even, odd4);
    return _mm512_add_epi32(even, _mm512_srai_epi32(odd4, 2));
  } else if constexpr (kBits == 8) {  // codes as they are: one vpdpbusd a vector, two chains
    __m512i even = _mm512_setzero_si512(), odd = _mm512_setzero_si512();
    for (int i = 0; i < 8; i += 2) {
      even = _mm512_dpbusd_epi32(even, _mm512_loadu_si512(v + 64 * i), BroadcastDword(x + 4 * i));
      odd = _mm512_dpbusd_epi32(odd, _mm512_loadu_si512(v + 64 * (i + 1)), BroadcastDword(x + 4 * (i + 1)));
    }
    return _mm512_add_epi32(even, odd);
  } else {
    static_assert(kBits == 4, "tile order holds 2-, 4- and 8-bit codes");
    const __m512i low4 = _mm512_set1_epi8(0x0F);
    __m512i low = _mm512_setzero_si512(), high = _mm512_setzero_si512();
    for (int i = 0; i < 4; ++i) {
      const __m512i codes = _mm512_loadu_si512(v + 64 * i);
      low = _mm512_dpbusd_epi32(low, _mm512_and_si512(codes, low4), BroadcastDword(x + 4 * i));
      high = _mm512_dpbusd_epi32(high, _mm512_and_si512(_mm512_srli_epi16(codes, 4), low4), BroadcastDword(x + 64 + 4 * i));
    }
    return _mm512_add_epi32(low, high);
  }
}

template <int kBits>
LLMC_X86_TARGET void TileRows(const MatMulArgs& a, const Activations& xa, int64_t r0, int64_t r1) {
  constexpr int m = kCodesPerByte<kBits>;
  constexpr int64_t kVectors = 8 / m;  // per block of 32 codes: its 32 / m bytes of each row in dwords
  const RowLayout l(*a.w);
  const int64_t blocks = l.row_bytes / (4 * kVectors);
  const int log2 = l.log2_subgroups_per_group;
  const int64_t tile_bytes = kTileRows * l.row_bytes;
  // Prefetch distance: whole tiles, at least 4 kB (a 576-column 2-bit tile is 2.3 kB: two tiles ahead
  // streamed 1.5–2.8 % faster than one, three or four no better; a 4.6 kB 4-bit tile, one ahead).
  constexpr int64_t kMinPrefetchBytes = 4096;
  const int64_t ahead = std::max<int64_t>(1, (kMinPrefetchBytes + tile_bytes - 1) / tile_bytes) * tile_bytes;
  for (int64_t r = r0; r < r1; r += kTileRows) {  // r0 and r1 are whole tiles: rows % 16 == 0
    const uint8_t* p = l.codes + r * l.row_bytes;
    const uint16_t* scales = l.scales + r * l.groups;
    const uint8_t* zeros = l.zeros != nullptr ? l.zeros + r * l.groups : nullptr;
    const bool prefetch_next = p + ahead < l.codes + r1 * l.row_bytes;
    __m512 total = _mm512_setzero_ps();
    for (int64_t g = 0, b = 0; g < l.groups; ++g) {
      __m512 group_sum = _mm512_setzero_ps();
      for (const int64_t end = std::min(blocks, (g + 1) << log2); b < end; ++b) {
        const uint8_t* v = p + b * 64 * kVectors;
        if (prefetch_next) {
          for (int i = 0; i < kVectors; ++i) _mm_prefetch(reinterpret_cast<const char*>(v + ahead + 64 * i), _MM_HINT_T0);
        }
        // The block's first dword j = kVectors * b lies in activation chunk j / 16, at dword j % 16
        // (unsigned: shifts, not a signed division's dozen instructions, 10 % of the 2-bit kernel).
        const auto j = static_cast<uint64_t>(kVectors * b);
        const int8_t* x = xa.bytes.data() + (j / 16) * 64 * m + 4 * (j % 16);
        const __m512i dot = TileBlockDot<kBits>(v, x);
        group_sum = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_set1_ps(a.xq_block_scales[b]), group_sum);
      }
      const __m512 s = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(scales + g * kTileRows)));
      const __m512 z = zeros != nullptr ? _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(
                                              _mm_loadu_si128(reinterpret_cast<const __m128i*>(zeros + g * kTileRows))))
                                        : _mm512_set1_ps(l.fixed_zero);
      total = _mm512_fmadd_ps(group_sum, s, total);
      total = _mm512_fnmadd_ps(_mm512_mul_ps(s, z), _mm512_set1_ps(a.xq_group_sums[g]), total);
    }
    _mm512_storeu_ps(a.y + r, total);
  }
}

// Rows [r0, r1): kRows at a time, then single rows. Which rows go four at a time depends only on r0
// (the front's fixed 16-row work items), never on the thread count.
template <int kBits, bool kOneGroup>
LLMC_X86_TARGET void Rows(const MatMulArgs& a, const Activations& xa, int64_t r0, int64_t r1) {
  const RowLayout l(*a.w);
  const Plan plan(l, kBits);
  int64_t r = r0;
  for (; r + kRows <= r1; r += kRows) {
    PrefetchRows(l, r + 2 * kRows, kRows);  // two walks ahead
    RowDots<kBits, kRows, kOneGroup>(plan, l, xa, a.xq_group_sums, r, a.y + r);
  }
  for (; r < r1; ++r) RowDots<kBits, 1, kOneGroup>(plan, l, xa, a.xq_group_sums, r, a.y + r);
}

// Interleave (gemv_x86_dispatch.cc) of whole 64-byte chunks with vpmov*b narrowing: a 64-bit lane
// of xq holds the m = 4 codes' activations of one byte position (a 32-bit lane the m = 2 ones), so
// shifting the lanes by 16k and keeping each lane's low byte gives vector k's bytes in order.
template <int m>
LLMC_X86_TARGET void InterleaveChunks(const int16_t* xq, int64_t chunks, int8_t* xa) {
  for (int64_t c = 0; c < chunks; ++c, xq += 64 * m, xa += 64 * m) {
    for (int v = 0; v < 2 * m; ++v) {  // 32 int16 per load: 32 / m byte positions
      const __m512i x = _mm512_loadu_si512(xq + 32 * v);
      const int64_t i0 = 32 / m * v;  // first byte position of this load
      for (int k = 0; k < m; ++k) {
        if constexpr (m == 4) {
          _mm_storel_epi64(reinterpret_cast<__m128i*>(xa + k * 64 + i0), _mm512_cvtepi64_epi8(_mm512_srli_epi64(x, 16 * k)));
        } else if constexpr (m == 2) {
          _mm_storeu_si128(reinterpret_cast<__m128i*>(xa + k * 64 + i0), _mm512_cvtepi32_epi8(_mm512_srli_epi32(x, 16 * k)));
        } else {
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(xa + i0), _mm512_cvtepi16_epi8(x));
        }
      }
    }
  }
}

#undef LLMC_X86_TARGET
}  // namespace

void InterleaveAvx512(const int16_t* xq, int64_t chunks, int bits, int8_t* xa) {
  switch (bits) {
    case 2: return InterleaveChunks<4>(xq, chunks, xa);
    case 4: return InterleaveChunks<2>(xq, chunks, xa);
    default: return InterleaveChunks<1>(xq, chunks, xa);
  }
}

void GemvRowsAvx512Vnni(const MatMulArgs& a, const Activations& xa, int64_t r0, int64_t r1) {
  if (a.w->order == CodeOrder::kTiles16) {  // 2-, 4- and 8-bit codes only (TileOrderFits)
    switch (a.w->quant.bits) {
      case 2: return TileRows<2>(a, xa, r0, r1);
      case 4: return TileRows<4>(a, xa, r0, r1);
      default: return TileRows<8>(a, xa, r0, r1);
    }
  }
  const bool one_group = a.w->groups_per_row() == 1;
  switch (a.w->quant.bits) {
    case 2: return one_group ? Rows<2, true>(a, xa, r0, r1) : Rows<2, false>(a, xa, r0, r1);
    case 4: return one_group ? Rows<4, true>(a, xa, r0, r1) : Rows<4, false>(a, xa, r0, r1);
    default: return one_group ? Rows<8, true>(a, xa, r0, r1) : Rows<8, false>(a, xa, r0, r1);  // IsaFor: 2/4/8 bits
  }
}

}  // namespace llmc::kernels::x86
#endif
