// Decode-time matrix-vector product (one token): weights are streamed once, straight from their
// packed form. Quantized rows: per group, sum_j q_j*x_j in SIMD float lanes, then
// y += s * (that - z * sum_j x_j) with the group sums of x computed once per call (zero hoisted).
// Compiled once per Highway target (foreach_target) and picked at run time.
#include <algorithm>
#include <cmath>
#include <vector>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/gemv_hwy.cc"
#include "kernels/hwy_targets.h"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/kernels_internal.h"
#include "llmc/kernels.h"
#include "kernels/unpack-inl.h"

HWY_BEFORE_NAMESPACE();
namespace llmc::kernels::HWY_NAMESPACE {
namespace {

using DF = hn::ScalableTag<float>;

HWY_INLINE float SumLanes(hn::Vec<DF> v) { return hn::GetLane(hn::SumOfLanes(DF(), v)); }

// Dense rows: Load(p, j) gives lanes j.. of the row as floats, Scalar(p, j) element j.
struct F32Row {
  const float* p;
  HWY_INLINE hn::Vec<DF> Load(int64_t j) const { return hn::LoadU(DF(), p + j); }
  float Scalar(int64_t j) const { return p[j]; }
};
struct F16Row {
  const uint16_t* p;
  HWY_INLINE hn::Vec<DF> Load(int64_t j) const {
    const hn::Rebind<hwy::float16_t, DF> dh;
    return hn::PromoteTo(DF(), hn::LoadU(dh, reinterpret_cast<const hwy::float16_t*>(p) + j));
  }
  float Scalar(int64_t j) const { return HalfToFloat(p[j]); }
};
struct BF16Row {
  const uint16_t* p;
  HWY_INLINE hn::Vec<DF> Load(int64_t j) const {
    const hn::Rebind<hwy::bfloat16_t, DF> db;
    return hn::PromoteTo(DF(), hn::LoadU(db, reinterpret_cast<const hwy::bfloat16_t*>(p) + j));
  }
  float Scalar(int64_t j) const { return BF16ToFloat(p[j]); }
};

// Four accumulators hide the FMA latency; the order is fixed, so results do not depend on threads.
// Tails here and below are explicit fused multiply-adds: whether the compiler contracts a * b + c
// would otherwise depend on how the row's element is loaded (float rows and half rows must agree).
template <class Row>
HWY_INLINE float DenseDot(const Row& row, const float* x, int64_t cols) {
  const DF df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  auto a0 = hn::Zero(df), a1 = hn::Zero(df), a2 = hn::Zero(df), a3 = hn::Zero(df);
  int64_t j = 0;
  for (; j + 4 * N <= cols; j += 4 * N) {
    a0 = hn::MulAdd(row.Load(j), hn::LoadU(df, x + j), a0);
    a1 = hn::MulAdd(row.Load(j + N), hn::LoadU(df, x + j + N), a1);
    a2 = hn::MulAdd(row.Load(j + 2 * N), hn::LoadU(df, x + j + 2 * N), a2);
    a3 = hn::MulAdd(row.Load(j + 3 * N), hn::LoadU(df, x + j + 3 * N), a3);
  }
  for (; j + N <= cols; j += N) a0 = hn::MulAdd(row.Load(j), hn::LoadU(df, x + j), a0);
  float tail = 0.0f;
  for (; j < cols; ++j) tail = std::fma(row.Scalar(j), x[j], tail);
  return SumLanes(hn::Add(hn::Add(a0, a1), hn::Add(a2, a3))) + tail;
}

#if HWY_TARGET != HWY_SCALAR
// The lane sums of four vectors at once (a lane reduction is several shuffles; short rows such as a
// 64-float attention head spend more on it than on their FMAs): pairs interleaved and added within
// each 128-bit block, then the pairs of pairs, leaving every block with partial sums of all four;
// then the blocks added. out[i] = sum of v[i]'s lanes.
template <class D>
HWY_INLINE void StoreBlockSums(D d, hn::Vec<D> v, float* out) {
  if constexpr (hn::MaxLanes(D()) > 4) {
    const hn::Half<D> dh;
    StoreBlockSums(dh, hn::Add(hn::LowerHalf(dh, v), hn::UpperHalf(dh, v)), out);
  } else {
    hn::StoreU(v, d, out);
  }
}

HWY_INLINE void SumLanesOfFour(const hn::Vec<DF> v[4], float* out) {
  const DF df;
  const hn::Repartition<double, DF> dd;
  const auto ab = hn::Add(hn::InterleaveLower(df, v[0], v[1]), hn::InterleaveUpper(df, v[0], v[1]));
  const auto cd = hn::Add(hn::InterleaveLower(df, v[2], v[3]), hn::InterleaveUpper(df, v[2], v[3]));
  const auto abd = hn::BitCast(dd, ab), cdd = hn::BitCast(dd, cd);
  const auto abcd = hn::Add(hn::BitCast(df, hn::InterleaveLower(dd, abd, cdd)), hn::BitCast(df, hn::InterleaveUpper(dd, abd, cdd)));
  StoreBlockSums(df, abcd, out);
}
#endif

template <class Row, class MakeRow>
void DenseGemv(const MatMulArgs& a, int64_t r0, int64_t r1, MakeRow make_row) {
  for (int64_t r = r0; r < r1; ++r) a.y[r] = DenseDot(make_row(r), a.x, a.cols);
}

// Sum over n whole units starting at p of codes * x, in two accumulators.
template <bool kAligned, int kBits>
HWY_INLINE hn::Vec<DF> UnitsDot(const CodeUnpacker<kBits>& unpack, const uint8_t* p, int offset, const float* x,
                                int64_t n) {
  using U = CodeUnpacker<kBits>;
  const DF df;
  const auto codes = [&](const uint8_t* unit, int64_t v) HWY_ATTR {
    if constexpr (kAligned) return unpack.AlignedCodes(unit, v);
    return unpack.Codes(unit, offset, v);
  };
  auto acc0 = hn::Zero(df), acc1 = hn::Zero(df);
  int64_t u = 0;
  for (; u + 2 <= n; u += 2, p += 2 * U::kUnitBytes, x += 2 * U::kUnit) {
    for (int64_t v = 0; v < U::kVectors; ++v) {
      acc0 = hn::MulAdd(codes(p, v), hn::LoadU(df, x + v * U::kLanes), acc0);
      acc1 = hn::MulAdd(codes(p + U::kUnitBytes, v), hn::LoadU(df, x + U::kUnit + v * U::kLanes), acc1);
    }
  }
  if (u < n) {
    for (int64_t v = 0; v < U::kVectors; ++v) acc0 = hn::MulAdd(codes(p, v), hn::LoadU(df, x + v * U::kLanes), acc0);
  }
  return hn::Add(acc0, acc1);
}

template <int kBits>
HWY_INLINE float QuantDot(const CodeUnpacker<kBits>& unpack, const QuantRow& q, const float* x,
                          const float* x_group_sums) {
  using U = CodeUnpacker<kBits>;
  const QuantLayout& l = *q.layout;
  const DF df;
  auto total = hn::Zero(df);
  int64_t g = 0;
  // Common case: groups of whole units, and the row's vector loads stay inside the buffer (all rows
  // but the last): no per-group bounds or alignment work.
  if (l.group_size % U::kUnit == 0 && l.data_end - q.codes >= l.row_bytes + 16) {
    const int64_t units = l.group_size / U::kUnit;
    const int64_t group_bytes = l.group_size * kBits / 8;
    for (; g < l.full_groups; ++g) {
      const auto dot = UnitsDot<true>(unpack, q.codes + g * group_bytes, 0, x + g * l.group_size, units);
      total = hn::MulAdd(hn::Set(df, q.scales[g]), dot, total);
    }
  }
  float scalar = 0.0f;
  for (; g < l.groups; ++g) {
    const int64_t j0 = g * l.group_size;
    const int64_t j1 = std::min(l.cols, j0 + l.group_size);
    const int offset = static_cast<int>((j0 * kBits) & 7);
    const uint8_t* p = q.codes + ((j0 * kBits) >> 3);
    const int64_t units = U::UnitsIn(p, offset, j1 - j0, l.data_end);
    const auto dot = offset == 0 ? UnitsDot<true>(unpack, p, 0, x + j0, units)
                                 : UnitsDot<false>(unpack, p, offset, x + j0, units);
    float tail = 0.0f;
    for (int64_t j = j0 + units * U::kUnit; j < j1; ++j) tail += static_cast<float>(CodeAt(q.codes, j, kBits)) * x[j];
    total = hn::MulAdd(hn::Set(df, q.scales[g]), dot, total);
    scalar += q.scales[g] * tail;
  }
  // The hoisted zeros: sum_g s_g * z_g * sum_{j in g} x_j.
  for (int64_t k = 0; k < l.groups; ++k) scalar -= q.scales[k] * q.zero(k) * x_group_sums[k];
  return SumLanes(total) + scalar;
}

template <int kBits>
void QuantGemv(const MatMulArgs& a, int64_t r0, int64_t r1) {
  const CodeUnpacker<kBits> unpack;
  const QuantLayout layout(*a.w);
  std::vector<float> scales(static_cast<size_t>(layout.groups));
  for (int64_t r = r0; r < r1; ++r) {
    a.y[r] = QuantDot(unpack, ViewQuantRow(layout, r, scales.data()), a.x, a.x_group_sums);
  }
}

// Decode attention's query heads that share one key-value head (GQA) read each cached row once for
// all of them, in groups of up to kMaxQueries (accumulators for more would spill registers).
constexpr int64_t kMaxQueries = HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3 ? 4 : 2;

// y[q * ldy + r] = row r . (x + q * k) for q < Q and rows of floats or halves (Row: F32Row, F16Row),
// ldb elements apart. Each row vector is loaded (and widened) once for the Q queries; each query and
// row get the same FMA chain as a query alone.
template <int Q, class Row, class T>
HWY_INLINE void DotRowsOf(const float* x, const T* b, int64_t ldb, int64_t n, int64_t k, float* y, int64_t ldy) {
  int64_t r = 0;
#if HWY_TARGET != HWY_SCALAR
  // Four rows per pass: four independent FMA chains per query, one reduction.
  const DF df;
  const auto N = static_cast<int64_t>(hn::Lanes(df));
  for (; r + 4 <= n; r += 4) {
    const Row rows[4] = {{b + r * ldb}, {b + (r + 1) * ldb}, {b + (r + 2) * ldb}, {b + (r + 3) * ldb}};
    hn::Vec<DF> acc[Q][4];
    for (int q = 0; q < Q; ++q) {
      for (int i = 0; i < 4; ++i) acc[q][i] = hn::Zero(df);
    }
    int64_t j = 0;
    for (; j + N <= k; j += N) {
      hn::Vec<DF> row_j[4];
      for (int i = 0; i < 4; ++i) row_j[i] = rows[i].Load(j);
      for (int q = 0; q < Q; ++q) {
        const auto xv = hn::LoadU(df, x + q * k + j);
        for (int i = 0; i < 4; ++i) acc[q][i] = hn::MulAdd(row_j[i], xv, acc[q][i]);
      }
    }
    if (j == k) {  // no tail (head_dim a multiple of the lanes): the four sums go straight to y
      for (int q = 0; q < Q; ++q) SumLanesOfFour(acc[q], y + q * ldy + r);
      continue;
    }
    for (int q = 0; q < Q; ++q) {
      HWY_ALIGN float sums[4];
      SumLanesOfFour(acc[q], sums);
      for (int i = 0; i < 4; ++i) {
        float tail = 0.0f;
        for (int64_t t = j; t < k; ++t) tail = std::fma(rows[i].Scalar(t), x[q * k + t], tail);
        y[q * ldy + r + i] = sums[i] + tail;
      }
    }
  }
#endif
  for (; r < n; ++r) {
    for (int q = 0; q < Q; ++q) y[q * ldy + r] = DenseDot(Row{b + r * ldb}, x + q * k, k);
  }
}

// out[q * ldo + c] = sum_j weights[q * ldw + j] * row j's element c for q < Q and columns [c, c + V *
// lanes), rows of floats or halves ld elements apart, each row vector loaded once for the Q queries.
template <int Q, int V, class Row, class T>
HWY_INLINE void WeightedColumns(const float* weights, int64_t ldw, const T* rows, int64_t ld, int64_t n, int64_t c,
                                float* out, int64_t ldo) {
  const DF df;
  const auto N = static_cast<int64_t>(hn::Lanes(df));
  hn::Vec<DF> acc[Q][V];
  for (int q = 0; q < Q; ++q) {
    for (int v = 0; v < V; ++v) acc[q][v] = hn::Zero(df);
  }
  for (int64_t j = 0; j < n; ++j) {
    const Row row{rows + j * ld};
    hn::Vec<DF> row_j[V];
    for (int v = 0; v < V; ++v) row_j[v] = row.Load(c + v * N);
    for (int q = 0; q < Q; ++q) {
      const auto w = hn::Set(df, weights[q * ldw + j]);
      for (int v = 0; v < V; ++v) acc[q][v] = hn::MulAdd(w, row_j[v], acc[q][v]);
    }
  }
  for (int q = 0; q < Q; ++q) {
    for (int v = 0; v < V; ++v) hn::StoreU(acc[q][v], df, out + q * ldo + c + v * N);
  }
}

// WeightedColumns over all `cols` columns: four vectors of columns per pass over the rows (a 64-float
// head in one pass on AVX-512, fewer passes to pay the per-row loads and broadcasts), then fewer.
// Every output is one FMA chain over the rows in order, whichever pass computes it.
template <int Q, class Row, class T>
HWY_INLINE void WeightedRowSumOf(const float* weights, int64_t ldw, const T* rows, int64_t ld, int64_t n, int64_t cols,
                                 float* out, int64_t ldo) {
  const auto N = static_cast<int64_t>(hn::Lanes(DF()));
  int64_t c = 0;
  for (; c + 4 * N <= cols; c += 4 * N) WeightedColumns<Q, 4, Row>(weights, ldw, rows, ld, n, c, out, ldo);
  for (; c + N <= cols; c += N) WeightedColumns<Q, 1, Row>(weights, ldw, rows, ld, n, c, out, ldo);
  for (; c < cols; ++c) {
    for (int q = 0; q < Q; ++q) {
      float acc = 0.0f;
      for (int64_t j = 0; j < n; ++j) acc = std::fma(weights[q * ldw + j], Row{rows + j * ld}.Scalar(c), acc);
      out[q * ldo + c] = acc;
    }
  }
}

// fn.template operator()<Q>(first) for the queries in groups of at most kMaxQueries.
template <class Fn>
HWY_INLINE void ForQueryGroups(int64_t queries, const Fn& fn) {
  for (int64_t first = 0; first < queries; first += kMaxQueries) {
    switch (std::min(queries - first, kMaxQueries)) {
      case 1: fn.template operator()<1>(first); break;
      case 2: fn.template operator()<2>(first); break;
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
      case 3: fn.template operator()<3>(first); break;
      case 4: fn.template operator()<4>(first); break;
#endif
    }
  }
}

template <class Row, class T>
HWY_INLINE void DotRows(const float* x, int64_t queries, const T* b, int64_t ldb, int64_t n, int64_t k, float* y,
                        int64_t ldy) {
  ForQueryGroups(queries, [&]<int Q>(int64_t first) { DotRowsOf<Q, Row>(x + first * k, b, ldb, n, k, y + first * ldy, ldy); });
}

template <class Row, class T>
HWY_INLINE void WeightedRowSum(const float* weights, int64_t ldw, int64_t queries, const T* rows, int64_t ld, int64_t n,
                               int64_t cols, float* out, int64_t ldo) {
  ForQueryGroups(queries, [&]<int Q>(int64_t first) {
    WeightedRowSumOf<Q, Row>(weights + first * ldw, ldw, rows, ld, n, cols, out + first * ldo, ldo);
  });
}

}  // namespace

void DotRowsF32Impl(const float* x, int64_t queries, const float* b, int64_t ldb, int64_t n, int64_t k, float* y,
                    int64_t ldy) {
  DotRows<F32Row>(x, queries, b, ldb, n, k, y, ldy);
}
void DotRowsF16Impl(const float* x, int64_t queries, const uint16_t* b, int64_t ldb, int64_t n, int64_t k, float* y,
                    int64_t ldy) {
  DotRows<F16Row>(x, queries, b, ldb, n, k, y, ldy);
}
void WeightedRowSumF32Impl(const float* weights, int64_t ldw, int64_t queries, const float* rows, int64_t ld, int64_t n,
                           int64_t cols, float* out, int64_t ldo) {
  WeightedRowSum<F32Row>(weights, ldw, queries, rows, ld, n, cols, out, ldo);
}
void WeightedRowSumF16Impl(const float* weights, int64_t ldw, int64_t queries, const uint16_t* rows, int64_t ld,
                           int64_t n, int64_t cols, float* out, int64_t ldo) {
  WeightedRowSum<F16Row>(weights, ldw, queries, rows, ld, n, cols, out, ldo);
}

void GemvRowsImpl(const MatMulArgs& a, int64_t r0, int64_t r1) {
  const WeightTensor& w = *a.w;
  const uint8_t* base = w.data.data();
  const int64_t rb = w.row_bytes();
  switch (w.encoding) {
    case Encoding::kF32:
      return DenseGemv<F32Row>(a, r0, r1, [&](int64_t r) {
        return F32Row{reinterpret_cast<const float*>(base + r * rb)};
      });
    case Encoding::kF16:
      return DenseGemv<F16Row>(a, r0, r1, [&](int64_t r) {
        return F16Row{reinterpret_cast<const uint16_t*>(base + r * rb)};
      });
    case Encoding::kBF16:
      return DenseGemv<BF16Row>(a, r0, r1, [&](int64_t r) {
        return BF16Row{reinterpret_cast<const uint16_t*>(base + r * rb)};
      });
    case Encoding::kQuantized:
      switch (w.quant.bits) {
        case 2: return QuantGemv<2>(a, r0, r1);
        case 3: return QuantGemv<3>(a, r0, r1);
        case 4: return QuantGemv<4>(a, r0, r1);
        case 8: return QuantGemv<8>(a, r0, r1);
      }
  }
}

}  // namespace llmc::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace llmc::kernels {
HWY_EXPORT(GemvRowsImpl);
HWY_EXPORT(DotRowsF32Impl);
HWY_EXPORT(DotRowsF16Impl);
HWY_EXPORT(WeightedRowSumF32Impl);
HWY_EXPORT(WeightedRowSumF16Impl);
void GemvRows(const MatMulArgs& a, int64_t r0, int64_t r1) { HWY_DYNAMIC_DISPATCH(GemvRowsImpl)(a, r0, r1); }
}  // namespace llmc::kernels

namespace llmc {
void WeightedRowSum(const float* weights, int64_t ldw, int64_t queries, const float* rows, int64_t ld, int64_t n,
                    int64_t cols, float* out, int64_t ldo) {
  HWY_DYNAMIC_DISPATCH(kernels::WeightedRowSumF32Impl)(weights, ldw, queries, rows, ld, n, cols, out, ldo);
}
void WeightedRowSum(const float* weights, int64_t ldw, int64_t queries, const uint16_t* half_rows, int64_t ld, int64_t n,
                    int64_t cols, float* out, int64_t ldo) {
  HWY_DYNAMIC_DISPATCH(kernels::WeightedRowSumF16Impl)(weights, ldw, queries, half_rows, ld, n, cols, out, ldo);
}
void DotRows(const float* x, int64_t queries, const float* rows, int64_t ld, int64_t n, int64_t k, float* y,
             int64_t ldy) {
  HWY_DYNAMIC_DISPATCH(kernels::DotRowsF32Impl)(x, queries, rows, ld, n, k, y, ldy);
}
void DotRows(const float* x, int64_t queries, const uint16_t* half_rows, int64_t ld, int64_t n, int64_t k, float* y,
             int64_t ldy) {
  HWY_DYNAMIC_DISPATCH(kernels::DotRowsF16Impl)(x, queries, half_rows, ld, n, k, y, ldy);
}
}  // namespace llmc
#endif
