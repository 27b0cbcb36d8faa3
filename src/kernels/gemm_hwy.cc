// Prefill/calibration matrix product (several tokens): a block of weight rows is decoded once into a
// small float tile that stays in L1, then multiplied against every token, so weights are read once
// per call rather than once per token. Also the SIMD row decoder behind GetRow.
// Compiled once per Highway target (foreach_target) and picked at run time.
#include <algorithm>
#include <cstring>
#include <vector>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/gemm_hwy.cc"
#include "kernels/hwy_targets.h"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/kernels_internal.h"
#include "kernels/unpack-inl.h"

HWY_BEFORE_NAMESPACE();
namespace llmc::kernels::HWY_NAMESPACE {
namespace {

using DF = hn::ScalableTag<float>;

// out[j] = s * (q_j - z): the same float operations as the scalar reference, so decoded values match
// it exactly.
template <int kBits>
void DecodeQuantRow(const CodeUnpacker<kBits>& unpack, const QuantRow& q, float* out) {
  using U = CodeUnpacker<kBits>;
  const QuantLayout& l = *q.layout;
  const DF df;
  for (int64_t g = 0; g < l.groups; ++g) {
    const int64_t j0 = g * l.group_size;
    const int64_t j1 = std::min(l.cols, j0 + l.group_size);
    const int offset = static_cast<int>((j0 * kBits) & 7);
    const uint8_t* p = q.codes + ((j0 * kBits) >> 3);
    const float s = q.scales[g];
    const float z = q.zero(g);
    const auto vs = hn::Set(df, s);
    const auto vz = hn::Set(df, z);
    const int64_t units = U::UnitsIn(p, offset, j1 - j0, l.data_end);
    float* dst = out + j0;
    for (int64_t u = 0; u < units; ++u, p += U::kUnitBytes, dst += U::kUnit) {
      for (int64_t v = 0; v < U::kVectors; ++v) {
        const auto codes = offset == 0 ? unpack.AlignedCodes(p, v) : unpack.Codes(p, offset, v);
        hn::StoreU(hn::Mul(hn::Sub(codes, vz), vs), df, dst + v * U::kLanes);
      }
    }
    for (int64_t j = j0 + units * U::kUnit; j < j1; ++j) out[j] = s * (static_cast<float>(CodeAt(q.codes, j, kBits)) - z);
  }
}

template <class DHalf>
void DecodeHalves(const uint16_t* src, float* out, int64_t n, float (*scalar)(uint16_t)) {
  const DF df;
  const DHalf dh;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  using T = hn::TFromD<DHalf>;
  const T* p = reinterpret_cast<const T*>(src);
  int64_t j = 0;
  for (; j + N <= n; j += N) hn::StoreU(hn::PromoteTo(df, hn::LoadU(dh, p + j)), df, out + j);
  for (; j < n; ++j) out[j] = scalar(src[j]);
}

float HalfScalar(uint16_t h) { return HalfToFloat(h); }
float BF16Scalar(uint16_t b) { return BF16ToFloat(b); }

// Decodes rows [r0, r1) into out, one row every `stride` floats.
template <int kBits>
void DecodeQuantRows(const WeightTensor& w, int64_t r0, int64_t r1, float* out, int64_t stride) {
  const CodeUnpacker<kBits> unpack;
  const QuantLayout layout(w);
  std::vector<float> scales(static_cast<size_t>(layout.groups));
  for (int64_t r = r0; r < r1; ++r) {
    DecodeQuantRow(unpack, ViewQuantRow(layout, r, scales.data()), out + (r - r0) * stride);
  }
}

void DecodeRows(const WeightTensor& w, int64_t r0, int64_t r1, float* out, int64_t stride) {
  const int64_t cols = w.cols();
  if (w.quantized()) {
    switch (w.quant.bits) {
      case 2: return DecodeQuantRows<2>(w, r0, r1, out, stride);
      case 3: return DecodeQuantRows<3>(w, r0, r1, out, stride);
      case 4: return DecodeQuantRows<4>(w, r0, r1, out, stride);
      case 8: return DecodeQuantRows<8>(w, r0, r1, out, stride);
    }
    return;
  }
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* src = w.data.data() + r * w.row_bytes();
    float* dst = out + (r - r0) * stride;
    const auto* halves = reinterpret_cast<const uint16_t*>(src);
    switch (w.encoding) {
      case Encoding::kF32: std::memcpy(dst, src, static_cast<size_t>(cols) * sizeof(float)); break;
      case Encoding::kF16: DecodeHalves<hn::Rebind<hwy::float16_t, DF>>(halves, dst, cols, HalfScalar); break;
      case Encoding::kBF16: DecodeHalves<hn::Rebind<hwy::bfloat16_t, DF>>(halves, dst, cols, BF16Scalar); break;
      case Encoding::kQuantized: break;
    }
  }
}

// y[t][r] for kR tile rows and kT tokens. Each output has one accumulator fed in column order, so
// its value is the same whatever block it is computed in.
template <int kR, int kT>
HWY_INLINE void DotBlock(const float* tile, int64_t stride, const float* x, int64_t n, float* const* y_rows,
                         int64_t y_stride) {
  const DF df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  hn::Vec<DF> acc[kR][kT];
  for (int i = 0; i < kR; ++i) {
    for (int t = 0; t < kT; ++t) acc[i][t] = hn::Zero(df);
  }
  for (int64_t j = 0; j < n; j += N) {
    hn::Vec<DF> xv[kT];
    for (int t = 0; t < kT; ++t) xv[t] = hn::LoadU(df, x + t * stride + j);
    for (int i = 0; i < kR; ++i) {
      const auto wv = hn::LoadU(df, tile + i * stride + j);
      for (int t = 0; t < kT; ++t) acc[i][t] = hn::MulAdd(wv, xv[t], acc[i][t]);
    }
  }
  for (int i = 0; i < kR; ++i) {
    for (int t = 0; t < kT; ++t) y_rows[i][t * y_stride] = hn::GetLane(hn::SumOfLanes(df, acc[i][t]));
  }
}

}  // namespace

void GemmRowsImpl(const MatMulArgs& a, int64_t r0, int64_t r1, float* tile) {
  const int64_t n_rows = r1 - r0;
  const int64_t stride = a.stride;
  DecodeRows(*a.w, r0, r1, tile, stride);
  for (int64_t i = 0; i < n_rows; ++i) {
    std::fill(tile + i * stride + a.cols, tile + (i + 1) * stride, 0.0f);  // padding meets padded x
  }
  constexpr int kR = 4;
  constexpr int kT = 2;
  for (int64_t t = 0; t < a.n_tokens; t += kT) {
    const bool full_t = t + kT <= a.n_tokens;
    const float* xt = a.x + t * stride;
    for (int64_t i = 0; i < n_rows; i += kR) {
      float* y_rows[kR];
      for (int k = 0; k < kR; ++k) y_rows[k] = a.y + t * a.rows + r0 + i + k;
      if (full_t && i + kR <= n_rows) {
        DotBlock<kR, kT>(tile + i * stride, stride, xt, stride, y_rows, a.rows);
        continue;
      }
      for (int64_t k = 0; k < kR && i + k < n_rows; ++k) {
        for (int64_t u = 0; u < kT && t + u < a.n_tokens; ++u) {
          float* out = y_rows[k] + u * a.rows;
          DotBlock<1, 1>(tile + (i + k) * stride, stride, xt + u * stride, stride, &out, a.rows);
        }
      }
    }
  }
}

void DecodeRowImpl(const WeightTensor& w, int64_t row, float* out) { DecodeRows(w, row, row + 1, out, 0); }

const char* TargetNameImpl() { return hwy::TargetName(HWY_TARGET); }

}  // namespace llmc::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace llmc::kernels {
HWY_EXPORT(GemmRowsImpl);
HWY_EXPORT(DecodeRowImpl);
HWY_EXPORT(TargetNameImpl);
void GemmRows(const MatMulArgs& a, int64_t r0, int64_t r1, float* tile) {
  HWY_DYNAMIC_DISPATCH(GemmRowsImpl)(a, r0, r1, tile);
}
void DecodeRow(const WeightTensor& w, int64_t row, float* out) { HWY_DYNAMIC_DISPATCH(DecodeRowImpl)(w, row, out); }
const char* DispatchedTargetName() { return HWY_DYNAMIC_DISPATCH(TargetNameImpl)(); }
}  // namespace llmc::kernels
#endif
