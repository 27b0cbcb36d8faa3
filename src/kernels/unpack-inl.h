// Per-target helpers shared by the SIMD kernels: turning packed b-bit codes into vector lanes, and
// fp16 scales into floats. Included once per Highway target (re-inclusion guard toggles).
#if defined(LLMC_KERNELS_UNPACK_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef LLMC_KERNELS_UNPACK_INL_H_
#undef LLMC_KERNELS_UNPACK_INL_H_
#else
#define LLMC_KERNELS_UNPACK_INL_H_
#endif

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "hwy/highway.h"
#include "llmc/dtype.h"
#include "llmc/quant.h"
#include "llmc/tensor.h"

HWY_BEFORE_NAMESPACE();
namespace llmc::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// The `bits`-bit code starting at bit `bit` of a little-endian bit stream.
HWY_INLINE uint32_t BitsAt(const uint8_t* p, int64_t bit, int bits) {
  const int shift = static_cast<int>(bit & 7);
  uint32_t v = p[bit >> 3] >> shift;
  if (shift + bits > 8) v |= static_cast<uint32_t>(p[(bit >> 3) + 1]) << (8 - shift);
  return v & ((1u << bits) - 1);
}

// Code j of a row (the scalar path for group tails).
HWY_INLINE uint32_t CodeAt(const uint8_t* row, int64_t j, int bits) { return BitsAt(row, j * bits, bits); }

// fp16 -> float for n values (F16C where the target has it, also for the tail).
HWY_INLINE void HalvesToFloats(const uint16_t* src, float* dst, int64_t n) {
  const hn::ScalableTag<float> df;
  const hn::Rebind<hwy::float16_t, decltype(df)> dh;
  const hn::CappedTag<float, 1> d1;
  const hn::Rebind<hwy::float16_t, decltype(d1)> dh1;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const auto* h = reinterpret_cast<const hwy::float16_t*>(src);
  int64_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(hn::PromoteTo(df, hn::LoadU(dh, h + i)), df, dst + i);
  for (; i < n; ++i) hn::StoreU(hn::PromoteTo(d1, hn::LoadU(dh1, h + i)), d1, dst + i);
}

// What every row of a quantized tensor shares, computed once per kernel call.
struct QuantLayout {
  const WeightTensor* w = nullptr;
  const uint8_t* data_end = nullptr;  // end of the whole code buffer (vector loads stop short)
  int64_t cols = 0;
  int64_t group_size = 0;
  int64_t groups = 0;
  int64_t full_groups = 0;  // groups of exactly group_size codes (all but a shorter last one)
  int64_t row_bytes = 0;
  float fixed_zero = 0;
  bool asymmetric = false;

  explicit QuantLayout(const WeightTensor& t)
      : w(&t),
        data_end(t.data.data() + t.data.size()),
        cols(t.cols()),
        group_size(t.quant.group_size),
        groups(t.groups_per_row()),
        full_groups(t.cols() / t.quant.group_size),
        row_bytes(t.row_bytes()),
        fixed_zero(GridZero(t.quant.grid, t.quant.bits)),
        asymmetric(t.quant.grid == QuantGrid::kAsymmetric) {}
};

// One quantized row as the kernels read it: packed codes, float scales, per-group zeros.
struct QuantRow {
  const QuantLayout* layout = nullptr;
  const uint8_t* codes = nullptr;
  const float* scales = nullptr;   // [groups], converted from fp16
  const uint8_t* zeros = nullptr;  // [groups] for the asym grid, else null

  float zero(int64_t g) const { return zeros != nullptr ? static_cast<float>(zeros[g]) : layout->fixed_zero; }
};

// Fills `scales` (scratch of layout.groups floats) and returns the view of row r.
HWY_INLINE QuantRow ViewQuantRow(const QuantLayout& layout, int64_t r, float* scales) {
  const WeightTensor& w = *layout.w;
  QuantRow q;
  q.layout = &layout;
  q.codes = w.data.data() + r * layout.row_bytes;
  HalvesToFloats(w.scales.as<uint16_t>() + r * layout.groups, scales, layout.groups);
  q.scales = scales;
  if (layout.asymmetric) q.zeros = w.zero_points.data() + r * layout.groups;
  return q;
}

// Brings b-bit codes into 32-bit lanes. A "unit" is kUnit consecutive codes (a whole number of bytes,
// kVectors vectors) whose first code starts at bit `offset` (0..7) of its first byte; the unit's
// bytes are broadcast to every 128-bit block and a byte shuffle puts the (at most two) bytes holding
// lane i's code into that lane, then a per-lane shift and a mask isolate it. 8-bit codes are simply
// zero-extended. The single-lane HWY_SCALAR target (the portable fallback) extracts codes one by one.
template <int kBits>
class CodeUnpacker {
 public:
  using DF = hn::ScalableTag<float>;
  using DU = hn::RebindToUnsigned<DF>;
  using DI = hn::RebindToSigned<DF>;
  using DU8 = hn::Repartition<uint8_t, DU>;
  static constexpr int64_t kLanes = static_cast<int64_t>(hn::MaxLanes(DF()));
  static constexpr int64_t kUnit = kLanes < 8 ? 8 : kLanes;
  static constexpr int64_t kVectors = kUnit / kLanes;
  static constexpr int64_t kUnitBytes = kUnit * kBits / 8;
  // Bytes a unit load touches: the whole broadcast 128-bit block, or the zero-extended bytes.
  static constexpr int64_t kLoadBytes = HWY_TARGET == HWY_SCALAR ? kUnitBytes : kBits == 8 ? kUnit : 16;

  CodeUnpacker() {
    if constexpr (kBits != 8 && HWY_TARGET != HWY_SCALAR) {
      for (int o = 0; o < 8; ++o) {
        for (int64_t v = 0; v < kVectors; ++v) {
          for (int64_t i = 0; i < kLanes; ++i) {
            const int64_t bit = o + (v * kLanes + i) * kBits;
            const int64_t byte = bit >> 3;
            const int shift = static_cast<int>(bit & 7);
            uint8_t* idx = index_[o][v] + 4 * i;
            idx[0] = static_cast<uint8_t>(byte);
            idx[1] = shift + kBits > 8 ? static_cast<uint8_t>(byte + 1) : 0x80;
            idx[2] = idx[3] = 0x80;
            shift_[o][v][i] = static_cast<uint32_t>(shift);
          }
        }
      }
      for (int64_t v = 0; v < kVectors; ++v) {
        for (int64_t i = 0; i < kLanes; ++i) broadcast_shift_[v][i] = static_cast<uint32_t>((v * kLanes + i) * kBits);
      }
    }
  }

  // How many whole units of a group of `len` codes starting at p (bit offset `offset`) the vector
  // path may take: each must stay inside the buffer and inside the 16 broadcast bytes.
  static int64_t UnitsIn(const uint8_t* p, int offset, int64_t len, const uint8_t* end) {
    if (offset + kUnit * kBits > 128 || end - p < kLoadBytes) return 0;
    return std::min(len / kUnit, (end - p - kLoadBytes) / kUnitBytes + 1);
  }

  // Codes() for a unit starting on a byte boundary. 2-bit units are at most 4 bytes: a 32-bit
  // broadcast replaces the byte shuffle.
  HWY_INLINE hn::Vec<DF> AlignedCodes(const uint8_t* p, int64_t v) const {
#if HWY_TARGET != HWY_SCALAR
    if constexpr (kBits == 2 && kUnitBytes <= 4) {
      const DU du;
      uint32_t word = 0;
      std::memcpy(&word, p, kUnitBytes);
      const auto codes = hn::And(hn::Set(du, word) >> hn::Load(du, broadcast_shift_[v]), hn::Set(du, 3u));
      return hn::ConvertTo(DF(), hn::BitCast(DI(), codes));
    }
#endif
    return Codes(p, 0, v);
  }

  // Vector `v` of the unit at p, as float lanes holding the raw codes.
  HWY_INLINE hn::Vec<DF> Codes(const uint8_t* p, int offset, int64_t v) const {
    const DF df;
    const DU du;
    const DI di;
#if HWY_TARGET == HWY_SCALAR
    (void)du;
    (void)di;
    return hn::Set(df, static_cast<float>(BitsAt(p, offset + v * kBits, kBits)));
#else
    if constexpr (kBits == 8) {
      const hn::Rebind<uint8_t, DU> d8;
      return hn::ConvertTo(df, hn::BitCast(di, hn::PromoteTo(du, hn::LoadU(d8, p + v * kLanes))));
    } else {
      const DU8 du8;
      const auto bytes = hn::LoadDup128(du8, p);
      const auto pairs = hn::TableLookupBytesOr0(bytes, hn::LoadU(du8, index_[offset][v]));
      const auto shifted = hn::BitCast(du, pairs) >> hn::LoadU(du, shift_[offset][v]);
      const auto codes = hn::And(shifted, hn::Set(du, (1u << kBits) - 1));
      return hn::ConvertTo(df, hn::BitCast(di, codes));
    }
#endif
  }

 private:
  static constexpr int64_t kTableOffsets = kBits == 8 ? 1 : 8;
  alignas(64) uint8_t index_[kTableOffsets][kVectors][kLanes * 4];
  alignas(64) uint32_t shift_[kTableOffsets][kVectors][kLanes];
  alignas(64) uint32_t broadcast_shift_[kVectors][kLanes];  // 2-bit AlignedCodes: lane i >> 2i
};

}  // namespace llmc::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // LLMC_KERNELS_UNPACK_INL_H_
