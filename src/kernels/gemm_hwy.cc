// Prefill/calibration matrix product (several tokens) and the SIMD row decoder behind GetRow.
// A tile of weight rows is decoded to floats once (gemm.cc), packed here into panels of two vectors
// of rows stored column by column, and multiplied against a block of tokens by a register-blocked
// micro-kernel: each step broadcasts one activation per token and multiplies it into the two panel
// vectors (outer products, no horizontal sums). Every output is one fused multiply-add chain over
// the columns in order, so its value does not depend on tiles, token blocks or threads.
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

template <int kBits>
void DecodeQuantRows(const WeightTensor& w, int64_t r0, int64_t r1, float* out) {
  const CodeUnpacker<kBits> unpack;
  const QuantLayout layout(w);
  std::vector<float> scales(static_cast<size_t>(layout.groups));
  for (int64_t r = r0; r < r1; ++r) {
    DecodeQuantRow(unpack, ViewQuantRow(layout, r, scales.data()), out + (r - r0) * layout.cols);
  }
}

// A micro-kernel step covers kPanel output columns (two vectors) for kTokens tokens: 2 * kTokens
// accumulators, two loads and kTokens broadcasts per column of the product.
constexpr int64_t kLanes = static_cast<int64_t>(hn::MaxLanes(DF()));
constexpr int64_t kPanel = 2 * kLanes;
static_assert(kGemmTileRows % kPanel == 0, "tiles must hold whole panels");
#if HWY_TARGET == HWY_AVX2
constexpr int kTokens = 6;  // 12 accumulators + 3 operands of 16 ymm registers
#elif HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
// 28 accumulators, the two panel vectors and a broadcast: 31 of the 32 zmm registers, each panel
// load feeding 14 multiply-adds (with 8 tokens, BM_Gemm ran 2-13 % slower).
constexpr int kTokens = 14;
#else
constexpr int kTokens = 8;  // the portable targets
#endif

// c[i][0, n_valid) for kM tokens (rows of a) against one panel of k packed columns.
template <int kM>
HWY_INLINE void MicroKernel(const float* a, int64_t lda, const float* panel, int64_t k, float* c, int64_t ldc,
                            int64_t n_valid) {
  const DF df;
  hn::Vec<DF> lo[kM];
  hn::Vec<DF> hi[kM];
  for (int i = 0; i < kM; ++i) lo[i] = hi[i] = hn::Zero(df);
  for (int64_t p = 0; p < k; ++p) {
    const auto w0 = hn::LoadU(df, panel + p * kPanel);
    const auto w1 = hn::LoadU(df, panel + p * kPanel + kLanes);
    for (int i = 0; i < kM; ++i) {
      const auto x = hn::Set(df, a[i * lda + p]);
      lo[i] = hn::MulAdd(x, w0, lo[i]);
      hi[i] = hn::MulAdd(x, w1, hi[i]);
    }
  }
  if (n_valid == kPanel) {
    for (int i = 0; i < kM; ++i) {
      hn::StoreU(lo[i], df, c + i * ldc);
      hn::StoreU(hi[i], df, c + i * ldc + kLanes);
    }
    return;
  }
  HWY_ALIGN float row[kPanel];
  for (int i = 0; i < kM; ++i) {
    hn::Store(lo[i], df, row);
    hn::Store(hi[i], df, row + kLanes);
    std::copy_n(row, n_valid, c + i * ldc);
  }
}

// MicroKernel<m> for a run-time m <= kM.
template <int kM>
HWY_INLINE void MicroKernelUpTo(int64_t m, const float* a, int64_t lda, const float* panel, int64_t k, float* c,
                                int64_t ldc, int64_t n_valid) {
  if constexpr (kM > 0) {
    if (m == kM) return MicroKernel<kM>(a, lda, panel, k, c, ldc, n_valid);
    MicroKernelUpTo<kM - 1>(m, a, lda, panel, k, c, ldc, n_valid);
  }
}

#if HWY_ARCH_X86 && (HWY_TARGET <= HWY_AVX3 || HWY_TARGET == HWY_AVX2)
#define LLMC_GEMM_TRANSPOSE 1
static_assert(kPanel == 2 * kLanes, "a panel is two blocks of kLanes rows");

// dst[j][i] = src[i][j] for i, j < kLanes (rows lds and ldd floats apart) through registers: about
// 4 shuffles per vector of 8 or 16 values, where PackTile's column-by-column copy does a strided
// scalar load and a store for each value (that copy was about a fifth of prefill's GEMM time). Pairs
// of rows are interleaved by 32-bit, then by 64-bit lanes (Highway ops, per 128-bit block on every
// target), so that each 128-bit block holds a 4 x 4 block transposed; 128-bit block shuffles, which
// Highway 1.0 does not offer, put the blocks in place.
HWY_INLINE void TransposeBlock(const float* src, int64_t lds, float* dst, int64_t ldd) {
  const DF df;
  const hn::Repartition<double, DF> dd;
  hn::Vec<DF> r[kLanes], t[kLanes];
  for (int64_t i = 0; i < kLanes; ++i) r[i] = hn::LoadU(df, src + i * lds);
  for (int64_t i = 0; i < kLanes; i += 2) {
    t[i] = hn::InterleaveLower(df, r[i], r[i + 1]);
    t[i + 1] = hn::InterleaveUpper(df, r[i], r[i + 1]);
  }
  const auto lo64 = [&](hn::Vec<DF> a, hn::Vec<DF> b) {
    return hn::BitCast(df, hn::InterleaveLower(dd, hn::BitCast(dd, a), hn::BitCast(dd, b)));
  };
  const auto hi64 = [&](hn::Vec<DF> a, hn::Vec<DF> b) {
    return hn::BitCast(df, hn::InterleaveUpper(dd, hn::BitCast(dd, a), hn::BitCast(dd, b)));
  };
  for (int64_t i = 0; i < kLanes; i += 4) {
    r[i] = lo64(t[i], t[i + 2]);
    r[i + 1] = hi64(t[i], t[i + 2]);
    r[i + 2] = lo64(t[i + 1], t[i + 3]);
    r[i + 3] = hi64(t[i + 1], t[i + 3]);
  }
#if HWY_TARGET == HWY_AVX2
  for (int j = 0; j < 4; ++j) {
    _mm256_storeu_ps(dst + j * ldd, _mm256_permute2f128_ps(r[j].raw, r[j + 4].raw, 0x20));        // low blocks
    _mm256_storeu_ps(dst + (j + 4) * ldd, _mm256_permute2f128_ps(r[j].raw, r[j + 4].raw, 0x31));  // high blocks
  }
#else
  __m512 u[16];
  for (int i = 0; i < 16; i += 8) {
    for (int j = 0; j < 4; ++j) {
      u[i + j] = _mm512_shuffle_f32x4(r[i + j].raw, r[i + j + 4].raw, 0x88);      // blocks 0, 2 of each
      u[i + j + 4] = _mm512_shuffle_f32x4(r[i + j].raw, r[i + j + 4].raw, 0xdd);  // blocks 1, 3 of each
    }
  }
  for (int j = 0; j < 8; ++j) {
    _mm512_storeu_ps(dst + j * ldd, _mm512_shuffle_f32x4(u[j], u[j + 8], 0x88));
    _mm512_storeu_ps(dst + (j + 8) * ldd, _mm512_shuffle_f32x4(u[j], u[j + 8], 0xdd));
  }
#endif
}
#endif

}  // namespace

void DecodeRowsImpl(const WeightTensor& w, int64_t r0, int64_t r1, float* out) {
  const int64_t cols = w.cols();
  if (w.quantized()) {
    switch (w.quant.bits) {
      case 2: return DecodeQuantRows<2>(w, r0, r1, out);
      case 3: return DecodeQuantRows<3>(w, r0, r1, out);
      case 4: return DecodeQuantRows<4>(w, r0, r1, out);
      case 8: return DecodeQuantRows<8>(w, r0, r1, out);
    }
    return;
  }
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* src = w.data.data() + r * w.row_bytes();
    float* dst = out + (r - r0) * cols;
    const auto* halves = reinterpret_cast<const uint16_t*>(src);
    switch (w.encoding) {
      case Encoding::kF32: std::memcpy(dst, src, static_cast<size_t>(cols) * sizeof(float)); break;
      case Encoding::kF16: DecodeHalves<hn::Rebind<hwy::float16_t, DF>>(halves, dst, cols, HalfScalar); break;
      case Encoding::kBF16: DecodeHalves<hn::Rebind<hwy::bfloat16_t, DF>>(halves, dst, cols, BF16Scalar); break;
      case Encoding::kQuantized: break;
    }
  }
}

// The codes of rows [r0, r1) (whole tiles) of a tile-order W in row order into `rows`. Vector j of a
// tile holds dword j of its 16 rows, so each kLanes x kLanes block of a tile's dwords is a transpose
// (TransposeBlock, on the dwords' bits); the scalar copy RowOrderCopy does, a strided load and a
// store per dword, made the prefill of an int8 store about a tenth slower than from row order.
// Dwords past the last whole block (and every dword where no transpose is compiled) one by one.
void UntileCodesImpl(const WeightTensor& w, int64_t r0, int64_t r1, uint8_t* rows) {
  const int64_t rb = w.row_bytes(), dwords = rb / 4;
  for (int64_t r = r0; r < r1; r += kTileRows) {
    const uint8_t* tile = w.data.data() + r * rb;
    uint8_t* dst = rows + (r - r0) * rb;
    int64_t j = 0;
#ifdef LLMC_GEMM_TRANSPOSE
    static_assert(kTileRows % kLanes == 0, "a tile's rows are whole blocks");
    for (; j + kLanes <= dwords; j += kLanes) {
      for (int64_t lane = 0; lane < kTileRows; lane += kLanes) {
        TransposeBlock(reinterpret_cast<const float*>(tile + j * 64) + lane, kTileRows,
                       reinterpret_cast<float*>(dst + lane * rb) + j, dwords);
      }
    }
#endif
    for (; j < dwords; ++j) {
      for (int64_t lane = 0; lane < kTileRows; ++lane) std::memcpy(dst + lane * rb + 4 * j, tile + j * 64 + 4 * lane, 4);
    }
  }
}

void PackTileImpl(const float* b, int64_t ldb, int64_t n, int64_t k, float* packed) {
  for (int64_t p0 = 0; p0 < n; p0 += kPanel) {
    const int64_t rows = std::min(kPanel, n - p0);
    const float* src = b + p0 * ldb;
    float* panel = packed + p0 * k;
    int64_t p = 0;
#ifdef LLMC_GEMM_TRANSPOSE
    if (rows == kPanel) {  // whole panels, kLanes columns at a time
      for (; p + kLanes <= k; p += kLanes) {
        TransposeBlock(src + p, ldb, panel + p * kPanel, kPanel);
        TransposeBlock(src + kLanes * ldb + p, ldb, panel + p * kPanel + kLanes, kPanel);
      }
    }
#endif
    // Column by column: the writes are contiguous and the kPanel source rows stay in L1.
    for (; p < k; ++p) {
      for (int64_t i = 0; i < rows; ++i) panel[p * kPanel + i] = src[i * ldb + p];
      for (int64_t i = rows; i < kPanel; ++i) panel[p * kPanel + i] = 0.0f;
    }
  }
}
#undef LLMC_GEMM_TRANSPOSE  // each target's pass decides anew

void GemmPackedImpl(const float* a, int64_t lda, int64_t m, const float* packed, int64_t n, int64_t k, float* c,
                    int64_t ldc) {
  for (int64_t t = 0; t < m; t += kTokens) {
    const int64_t mt = std::min<int64_t>(kTokens, m - t);
    for (int64_t p0 = 0; p0 < n; p0 += kPanel) {
      MicroKernelUpTo<kTokens>(mt, a + t * lda, lda, packed + p0 * k, k, c + t * ldc + p0, ldc,
                               std::min(kPanel, n - p0));
    }
  }
}

const char* TargetNameImpl() { return hwy::TargetName(HWY_TARGET); }

}  // namespace llmc::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace llmc::kernels {
HWY_EXPORT(DecodeRowsImpl);
HWY_EXPORT(UntileCodesImpl);
HWY_EXPORT(PackTileImpl);
HWY_EXPORT(GemmPackedImpl);
HWY_EXPORT(TargetNameImpl);
void DecodeRows(const WeightTensor& w, int64_t r0, int64_t r1, float* out) {
  if (w.order == CodeOrder::kTiles16) {
    thread_local std::vector<uint8_t> storage;
    const bool whole_tiles = r0 % kTileRows == 0 && r1 % kTileRows == 0;  // the GEMM's row ranges
    const WeightTensor rows = RowOrderCopy(w, r0, r1, storage, !whole_tiles);
    if (whole_tiles) HWY_DYNAMIC_DISPATCH(UntileCodesImpl)(w, r0, r1, storage.data());
    return HWY_DYNAMIC_DISPATCH(DecodeRowsImpl)(rows, 0, r1 - r0, out);
  }
  HWY_DYNAMIC_DISPATCH(DecodeRowsImpl)(w, r0, r1, out);
}
void PackTile(const float* b, int64_t ldb, int64_t n, int64_t k, float* packed) {
  HWY_DYNAMIC_DISPATCH(PackTileImpl)(b, ldb, n, k, packed);
}
void GemmPacked(const float* a, int64_t lda, int64_t m, const float* packed, int64_t n, int64_t k, float* c,
                int64_t ldc) {
  HWY_DYNAMIC_DISPATCH(GemmPackedImpl)(a, lda, m, packed, n, k, c, ldc);
}
const char* DispatchedTargetName() { return HWY_DYNAMIC_DISPATCH(TargetNameImpl)(); }
}  // namespace llmc::kernels
#endif
