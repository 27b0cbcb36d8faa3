// Decode-time matrix-vector product with int8 activations (the default, SetActivationInt8) where
// the x86 byte path does not apply (3-bit codes, other CPUs): x is quantized per block of 32 columns
// to [-127, 127] (front, matmul.cc), codes are unpacked into 16-bit lanes and multiplied with
// pairwise-add integer dot products (pmaddwd), one float conversion per block. The zeros are hoisted
// per group: s_g * z_g * (quantized activations summed over g), as the float path does.
// Compiled once per Highway target (foreach_target) and picked at run time.
#include <algorithm>
#include <limits>
#include <vector>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/gemv_int8_hwy.cc"
#include "kernels/hwy_targets.h"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/kernels_internal.h"
#include "kernels/unpack-inl.h"

HWY_BEFORE_NAMESPACE();
namespace llmc::kernels::HWY_NAMESPACE {
namespace {

using DF = hn::ScalableTag<float>;

#if HWY_TARGET != HWY_SCALAR
using DI32 = hn::RebindToSigned<DF>;
using DI16 = hn::Repartition<int16_t, DI32>;
using DU16 = hn::RebindToUnsigned<DI16>;
using DU8 = hn::Repartition<uint8_t, DU16>;

// b-bit codes into 16-bit lanes, one vector (kLanes codes, whole bytes) per unit. The unit's bytes
// are broadcast to every 128-bit block, a byte shuffle brings the two bytes holding lane i's code
// into lane i, a multiply by 2^(16-b-shift) moves the code to the top bits and a shift brings it
// down (no mask needed). 8-bit codes are zero-extended.
template <int kBits>
class Code16Unpacker {
 public:
  static constexpr bool kVector = true;
  static constexpr int64_t kLanes = static_cast<int64_t>(hn::MaxLanes(DU16()));
  static constexpr int64_t kUnitBytes = kLanes * kBits / 8;

  Code16Unpacker() {
    if constexpr (kBits != 8) {
      for (int o = 0; o < 8; ++o) {
        for (int64_t i = 0; i < kLanes; ++i) {
          const int64_t bit = o + i * kBits;
          const int shift = static_cast<int>(bit & 7);
          index_[o][2 * i] = static_cast<uint8_t>(bit >> 3);
          index_[o][2 * i + 1] = shift + kBits > 8 ? static_cast<uint8_t>((bit >> 3) + 1) : 0x80;
          multiplier_[o][i] = static_cast<uint16_t>(1u << (16 - kBits - shift));
        }
      }
    }
  }

  // How many whole units of a group of `len` codes starting at p the vector path may take.
  static int64_t UnitsIn(const uint8_t* p, int offset, int64_t len, const uint8_t* end) {
    constexpr int64_t kLoadBytes = kBits == 8 ? kLanes : 16;
    if (offset + kLanes * kBits > 128 || end - p < kLoadBytes) return 0;
    return std::min(len / kLanes, (end - p - kLoadBytes) / kUnitBytes + 1);
  }

  HWY_INLINE hn::Vec<DI16> Codes(const uint8_t* p, int offset) const {
    const DU16 du16;
    if constexpr (kBits == 8) {
      const hn::Rebind<uint8_t, DU16> d8;
      return hn::BitCast(DI16(), hn::PromoteTo(du16, hn::LoadU(d8, p)));
    } else {
      const DU8 du8;
      const auto pairs = hn::TableLookupBytesOr0(hn::LoadDup128(du8, p), hn::LoadU(du8, index_[offset]));
      const auto top = hn::BitCast(du16, pairs) * hn::LoadU(du16, multiplier_[offset]);
      return hn::BitCast(DI16(), hn::ShiftRight<16 - kBits>(top));
    }
  }

 private:
  static constexpr int kTableOffsets = kBits == 8 ? 1 : 8;
  alignas(64) uint8_t index_[kTableOffsets][kLanes * 2];
  alignas(64) uint16_t multiplier_[kTableOffsets][kLanes];
};

// sum over n whole units starting at p of codes * xq, as float lanes.
template <int kBits>
HWY_INLINE hn::Vec<DF> UnitsDotInt8(const Code16Unpacker<kBits>& unpack, const uint8_t* p, int offset,
                                    const int16_t* x, int64_t n) {
  using U = Code16Unpacker<kBits>;
  const DI32 di32;
  const DI16 di16;
  auto acc = hn::Zero(di32);
  auto acc_odd = hn::Zero(di32);  // used by targets whose widening multiply-add splits lanes
  for (int64_t u = 0; u < n; ++u, p += U::kUnitBytes, x += U::kLanes) {
    acc = hn::ReorderWidenMulAccumulate(di32, unpack.Codes(p, offset), hn::LoadU(di16, x), acc, acc_odd);
  }
  return hn::ConvertTo(DF(), hn::RearrangeToOddPlusEven(acc, acc_odd));
}

#else
// HWY_SCALAR (the portable fallback): no vector units, every column goes through the scalar tail.
template <int kBits>
struct Code16Unpacker {
  static constexpr bool kVector = false;
  static constexpr int64_t kLanes = 1;
  static constexpr int64_t kUnitBytes = 0;
  static int64_t UnitsIn(const uint8_t*, int, int64_t, const uint8_t*) { return 0; }
};

template <int kBits>
HWY_INLINE hn::Vec<DF> UnitsDotInt8(const Code16Unpacker<kBits>&, const uint8_t*, int, const int16_t*, int64_t) {
  return hn::Zero(DF());
}
#endif

// One row: per block of kActivationBlock codes (whole bytes at any bit width: 32 * bits is a
// multiple of 8), the integer dot product with xq scaled by weight group scale * activation block
// scale; blocks nest in groups (Int8ActivationsApply).
template <int kBits>
HWY_INLINE float QuantDotInt8(const Code16Unpacker<kBits>& unpack, const QuantRow& q, const MatMulArgs& a) {
  using U = Code16Unpacker<kBits>;
  const QuantLayout& l = *q.layout;
  const DF df;
  auto total = hn::Zero(df);
  float scalar = 0.0f;
  const int64_t blocks = (l.cols + kActivationBlock - 1) / kActivationBlock;
  const int64_t blocks_per_group = l.groups == 1 ? blocks : l.group_size / kActivationBlock;
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t j0 = b * kActivationBlock;
    const int64_t j1 = std::min(l.cols, j0 + kActivationBlock);
    const uint8_t* p = q.codes + j0 * kBits / 8;
    const int64_t units = U::UnitsIn(p, 0, j1 - j0, l.data_end);
    const float scale = q.scales[b / blocks_per_group] * a.xq_block_scales[b];
    total = hn::MulAdd(UnitsDotInt8(unpack, p, 0, a.xq + j0, units), hn::Set(df, scale), total);
    int32_t tail = 0;
    for (int64_t j = j0 + units * U::kLanes; j < j1; ++j) tail += static_cast<int32_t>(CodeAt(q.codes, j, kBits)) * a.xq[j];
    scalar += scale * static_cast<float>(tail);
  }
  // The hoisted zeros: sum_g s_g * z_g * (quantized activations summed over group g).
  for (int64_t k = 0; k < l.groups; ++k) scalar -= q.scales[k] * q.zero(k) * a.xq_group_sums[k];
  return hn::GetLane(hn::SumOfLanes(df, total)) + scalar;
}

template <int kBits>
void QuantGemvInt8(const MatMulArgs& a, int64_t r0, int64_t r1) {
  const Code16Unpacker<kBits> unpack;
  const QuantLayout layout(*a.w);
  std::vector<float> scales(static_cast<size_t>(layout.groups));
  for (int64_t r = r0; r < r1; ++r) a.y[r] = QuantDotInt8(unpack, ViewQuantRow(layout, r, scales.data()), a);
}

}  // namespace

// Two passes over the blocks, each without a branch on the previous block's result: first every
// block's largest |x|, then the codes. One pass per block chained the maximum's cross-lane reduction,
// the divisions and the code sum's reduction, and ran at about 58 cycles per block.
void QuantizeBlocksImpl(const float* x, int64_t cols, int16_t* q, float* block_scales, float* block_sums) {
  const DF df;
  const hn::RebindToSigned<DF> di;
  const hn::Rebind<int16_t, decltype(di)> d16;
  constexpr int64_t kBlock = kActivationBlock;
  const auto N = static_cast<int64_t>(hn::Lanes(df));
  static_assert(kBlock % hn::MaxLanes(DF()) == 0, "whole vectors per block");
  const int64_t whole = cols / kBlock;
  const int64_t blocks = (cols + kBlock - 1) / kBlock;
  // The partial last block through a zero-padded copy.
  HWY_ALIGN float x_tail[kBlock] = {};
  HWY_ALIGN int16_t q_tail[kBlock];
  std::copy(x + whole * kBlock, x + cols, x_tail);
  const auto block_x = [&](int64_t b) { return b < whole ? x + b * kBlock : x_tail; };
  // Pass 1: each block's largest |x| in block_scales (a NaN or inf anywhere makes it NaN).
  for (int64_t b = 0; b < blocks; ++b) {
    const float* xb = block_x(b);
    auto max_abs = hn::Zero(df);
    auto finite = hn::Eq(max_abs, max_abs);  // all true
    for (int64_t i = 0; i < kBlock; i += N) {
      const auto v = hn::LoadU(df, xb + i);
      finite = hn::And(finite, hn::IsFinite(v));
      max_abs = hn::Max(max_abs, hn::Abs(v));
    }
    const float m = hn::GetLane(hn::MaxOfLanes(df, max_abs));
    block_scales[b] = hn::AllTrue(df, finite) ? m : std::numeric_limits<float>::quiet_NaN();
  }
  // Pass 2: the codes of each block with a finite, non-zero maximum (the others keep q as it is).
  for (int64_t b = 0; b < blocks; ++b) {
    const float m = block_scales[b];
    if (!(m > 0.0f)) {  // NaN (not finite) or 0: scale NaN or 0, q stays zero
      block_sums[b] = 0.0f;
      continue;
    }
    const float* xb = block_x(b);
    const auto inv = hn::Set(df, 127.0f / m);
    int16_t* qb = b < whole ? q + b * kBlock : q_tail;
    auto sum = hn::Zero(di);
    for (int64_t i = 0; i < kBlock; i += N) {
      const auto qi = hn::NearestInt(hn::Mul(hn::LoadU(df, xb + i), inv));  // ties to even
      sum = hn::Add(sum, qi);
      hn::StoreU(hn::DemoteTo(d16, qi), d16, qb + i);
    }
    if (b == whole) std::copy(q_tail, q_tail + (cols - whole * kBlock), q + b * kBlock);
    block_scales[b] = m / 127.0f;
    block_sums[b] = block_scales[b] * static_cast<float>(hn::GetLane(hn::SumOfLanes(di, sum)));
  }
}

void GemvRowsInt8Impl(const MatMulArgs& a, int64_t r0, int64_t r1) {
  switch (a.w->quant.bits) {
    case 2: return QuantGemvInt8<2>(a, r0, r1);
    case 3: return QuantGemvInt8<3>(a, r0, r1);
    case 4: return QuantGemvInt8<4>(a, r0, r1);
    case 8: return QuantGemvInt8<8>(a, r0, r1);
  }
}

}  // namespace llmc::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace llmc::kernels {
HWY_EXPORT(QuantizeBlocksImpl);
void QuantizeBlocks(const float* x, int64_t cols, int16_t* q, float* block_scales, float* block_sums) {
  HWY_DYNAMIC_DISPATCH(QuantizeBlocksImpl)(x, cols, q, block_scales, block_sums);
}
HWY_EXPORT(GemvRowsInt8Impl);
void GemvRowsInt8(const MatMulArgs& a, int64_t r0, int64_t r1) {
  HWY_DYNAMIC_DISPATCH(GemvRowsInt8Impl)(a, r0, r1);
}
}  // namespace llmc::kernels
#endif
