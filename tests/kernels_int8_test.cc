// The int8-activation GEMV path (the decode default; one scale per block of 32 activations): within
// its per-block rounding bound of the reference, exact when every block is already on its int8 grid,
// identical across thread counts, on every target; groups that split blocks keep the float path; the
// x86 byte-dot-product kernels (2/4/8-bit, groups of 32k codes) agree with the Highway int8 path;
// 3-bit codes are widened onto the 4-bit path with the same values.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <tuple>
#include <vector>

#include "hwy/targets.h"
#include "kernels/gemv_x86.h"
#include "kernels/kernels_internal.h"
#include "kernels_test_weights.h"
#include "llmc/kernels.h"
#include "llmc/quant.h"

namespace llmc {
namespace {

using testing::OutputScales;
using testing::RandomActivations;
using testing::RandomWeight;
using testing::WeightCase;

// Sets the activation path for a scope and restores the previous one.
class ActivationPath {
 public:
  explicit ActivationPath(bool int8) : old_(ActivationInt8()) { SetActivationInt8(int8); }
  ~ActivationPath() { SetActivationInt8(old_); }

 private:
  bool old_;
};

class Int8Activations : public ActivationPath {
 public:
  Int8Activations() : ActivationPath(true) {}
};

constexpr int64_t kBlock = 32;  // activation columns per int8 scale

// Whether W's groups split activation blocks: the int8 path does not apply (float path instead).
bool GroupsSplitBlocks(const WeightTensor& w) { return w.quant.group_size % kBlock != 0 && w.groups_per_row() > 1; }

// Gaussian activations with an outlier channel (as real models have), which a per-token scale would
// spread over every column.
std::vector<float> ActivationsWithOutlier(int64_t cols, uint32_t seed) {
  std::vector<float> x = RandomActivations(cols, seed);
  x[static_cast<size_t>(cols / 2)] = 60.0f;
  return x;
}

std::vector<int64_t> TargetsToTest() {
  std::vector<int64_t> targets;
  for (int64_t t : {int64_t{HWY_AVX3}, int64_t{HWY_AVX2}, int64_t{HWY_SCALAR}}) {
    if ((hwy::SupportedTargets() & t) != 0) targets.push_back(t);
  }
  return targets;
}

std::vector<WeightCase> QuantCases() {
  std::vector<WeightCase> cases;
  for (int bits : {2, 3, 4, 8}) {
    for (QuantGrid grid : {QuantGrid::kSigned, QuantGrid::kAsymmetric, QuantGrid::kSymmetricHalf}) {
      for (int64_t gs : {32, 64, 128, 0, 36}) cases.push_back({Encoding::kQuantized, bits, grid, gs});
    }
  }
  return cases;
}

// Per output, rounding x to its block's int8 grid moves y by at most half that block's step times
// sum over the block of |W[r][c]|.
std::vector<double> RoundingBounds(const WeightTensor& w, const std::vector<float>& x) {
  const int64_t cols = w.cols();
  std::vector<double> half_step(static_cast<size_t>(cols));
  for (int64_t c0 = 0; c0 < cols; c0 += kBlock) {
    float max_abs = 0.0f;
    for (int64_t c = c0; c < std::min(cols, c0 + kBlock); ++c) max_abs = std::max(max_abs, std::fabs(x[c]));
    for (int64_t c = c0; c < std::min(cols, c0 + kBlock); ++c) half_step[c] = 0.5 * max_abs / 127.0;
  }
  std::vector<double> bounds(static_cast<size_t>(w.rows()));
  std::vector<float> row(static_cast<size_t>(cols));
  for (int64_t r = 0; r < w.rows(); ++r) {
    DequantizeRow(w, r, row.data());
    double sum = 0;
    for (int64_t c = 0; c < cols; ++c) sum += half_step[c] * std::fabs(row[c]);
    bounds[r] = sum;
  }
  return bounds;
}

TEST(KernelsInt8Test, WithinThePerBlockRoundingBoundAndIdenticalForEveryThreadCount) {
  Int8Activations int8;
  for (const WeightCase& wc : QuantCases()) {
    // 480 and 224 columns walk every x86 chunk size (64, 32, 16 and 8 bytes) for 2 and 4 bits; 172,
    // 1537 and 36 are not whole blocks (the last block is partial); 13, 3, 7 and 5 rows leave the
    // x86 kernels' 4-row walks a remainder.
    for (auto [rows, cols] : {std::pair<int64_t, int64_t>{13, 172}, {40, 576}, {3, 1537}, {7, 480}, {5, 224}, {6, 36}}) {
      SCOPED_TRACE(wc.Name() + " " + std::to_string(rows) + "x" + std::to_string(cols));
      const WeightTensor w = RandomWeight(wc, rows, cols, 7);
      const std::vector<float> x = ActivationsWithOutlier(cols, 8);
      std::vector<float> ref(static_cast<size_t>(rows));
      MatMulReference(w, x.data(), 1, ref.data());
      const std::vector<double> bounds = RoundingBounds(w, x);
      const double scale = OutputScales(w, x.data(), 1)[0];
      for (int64_t target : TargetsToTest()) {
        hwy::SetSupportedTargetsForTest(target);
        std::vector<float> first;
        for (int threads : {1, 2, 3}) {
          SetNumThreads(threads);
          std::vector<float> y(static_cast<size_t>(rows));
          MatMul(w, x.data(), 1, y.data());
          for (int64_t r = 0; r < rows; ++r) {
            ASSERT_NEAR(y[r], ref[r], bounds[r] + 1e-5 * scale) << hwy::TargetName(target) << " row " << r;
          }
          if (first.empty()) first = y;
          ASSERT_EQ(0, std::memcmp(first.data(), y.data(), y.size() * sizeof(float))) << threads << " threads";
        }
      }
      hwy::SetSupportedTargetsForTest(0);
      SetNumThreads(0);
    }
  }
}

// Enough rows that 2 and 3 threads split the x86 kernels' row blocks differently: row order (203
// rows, a remainder past the 4-row walks) and the model's form (208 rows, tile order where the
// AVX-512 VNNI kernel applies).
TEST(KernelsInt8Test, ManyRowsAreIdenticalForEveryThreadCount) {
  Int8Activations int8;
  for (int bits : {2, 3, 4, 8}) {
    const WeightCase wc{Encoding::kQuantized, bits, QuantGrid::kAsymmetric, 64};
    for (const WeightTensor& w : {RandomWeight(wc, 203, 576, 21), PrepareForMatMul(RandomWeight(wc, 208, 576, 21))}) {
      SCOPED_TRACE(wc.Name() + (w.order == CodeOrder::kTiles16 ? " tiles" : " rows"));
      const std::vector<float> x = ActivationsWithOutlier(576, 22);
      std::vector<float> first(static_cast<size_t>(w.rows())), y(first.size());
      SetNumThreads(1);
      MatMul(w, x.data(), 1, first.data());
      for (int threads : {2, 3}) {
        SetNumThreads(threads);
        MatMul(w, x.data(), 1, y.data());
        ASSERT_EQ(0, std::memcmp(first.data(), y.data(), y.size() * sizeof(float))) << threads << " threads";
      }
      SetNumThreads(0);
    }
  }
}

TEST(KernelsInt8Test, GroupsThatSplitBlocksKeepTheFloatPathBitForBit) {
  for (int bits : {2, 3, 4, 8}) {
    for (int64_t gs : {36, 48, 100}) {
      const WeightCase wc{Encoding::kQuantized, bits, QuantGrid::kAsymmetric, gs};
      SCOPED_TRACE(wc.Name());
      const WeightTensor w = RandomWeight(wc, 9, 300, 5);
      ASSERT_TRUE(GroupsSplitBlocks(w));
      const std::vector<float> x = ActivationsWithOutlier(300, 6);
      std::vector<float> int8_y(9), float_y(9);
      {
        Int8Activations int8;
        MatMul(w, x.data(), 1, int8_y.data());
      }
      {
        ActivationPath float_path(false);
        MatMul(w, x.data(), 1, float_y.data());
      }
      ASSERT_EQ(0, std::memcmp(int8_y.data(), float_y.data(), int8_y.size() * sizeof(float)));
    }
  }
}

TEST(KernelsInt8Test, ExactWhenEveryBlockIsOnItsInt8Grid) {
  Int8Activations int8;
  const int64_t cols = 480;  // a multiple of 32: the x86 byte path where it applies
  // Integers with 127 or -127 in every block of 32 (step 1 everywhere); blocks differ in sign mix.
  std::vector<float> x(cols);
  for (int64_t c = 0; c < cols; ++c) x[c] = c % kBlock == 0 ? (c / kBlock % 2 ? 127.0f : -127.0f) : static_cast<float>((c * 37) % 255 - 127);
  for (const WeightCase& wc : QuantCases()) {
    SCOPED_TRACE(wc.Name());
    const WeightTensor w = RandomWeight(wc, 9, cols, 3);
    std::vector<float> ref(9), y(9);
    MatMulReference(w, x.data(), 1, ref.data());
    MatMul(w, x.data(), 1, y.data());
    const double scale = OutputScales(w, x.data(), 1)[0];
    for (int r = 0; r < 9; ++r) ASSERT_NEAR(y[r], ref[r], 1e-5 * scale) << "row " << r;
  }
}

// A block's outlier costs precision in that block only: blocks of small activations beside a huge
// one keep their own fine step, so the output error stays at the per-block bound: about 1/18 (one of
// 18 blocks) of what one per-token scale (step 1000 / 127 everywhere) would allow.
TEST(KernelsInt8Test, AnOutlierCoarsensOnlyItsOwnBlock) {
  Int8Activations int8;
  const int64_t cols = 576;
  std::vector<float> x = RandomActivations(cols, 31);
  for (float& v : x) v *= 0.01f;
  x[5] = 1000.0f;
  const WeightTensor w = RandomWeight({Encoding::kQuantized, 4, QuantGrid::kSigned, 32}, 8, cols, 32);
  std::vector<float> ref(8), y(8), without_outlier(8);
  MatMulReference(w, x.data(), 1, ref.data());
  MatMul(w, x.data(), 1, y.data());
  const std::vector<double> bounds = RoundingBounds(w, x);
  std::vector<float> row(cols);
  for (int r = 0; r < 8; ++r) {
    DequantizeRow(w, r, row.data());
    double per_token = 0;
    for (float v : row) per_token += 0.5 * 1000.0 / 127.0 * std::fabs(v);
    EXPECT_LT(bounds[r], per_token / 8) << "row " << r;
    EXPECT_NEAR(y[r], ref[r], bounds[r] + 1e-5 * std::fabs(ref[r])) << "row " << r;
  }
}

TEST(KernelsInt8Test, IsTheDefaultPath) {
  // Other tests restore the previous setting on exit, so the process default is still in force here
  // unless a test leaked a change.
  EXPECT_TRUE(ActivationInt8());
}

TEST(KernelsInt8Test, X86BytePathAppliesToWholeSubgroupsOfAllButThreeBitCodes) {
  using kernels::x86::Isa;
  using kernels::x86::IsaFor;
  const bool x86 = IsaFor(RandomWeight({Encoding::kQuantized, 2, QuantGrid::kSigned, 32}, 2, 64, 1)) != Isa::kNone;
  for (const WeightCase& wc : QuantCases()) {
    for (int64_t cols : {int64_t{172}, int64_t{576}}) {
      const WeightTensor w = RandomWeight(wc, 2, cols, 1);
      const bool fits = (wc.bits == 2 || wc.bits == 4 || wc.bits == 8) && (wc.group_size == 0 || wc.group_size % 32 == 0) && cols % 32 == 0;
      EXPECT_EQ(x86 && fits, IsaFor(w) != Isa::kNone) << wc.Name() << " cols " << cols;
    }
  }
  hwy::SetSupportedTargetsForTest(HWY_SCALAR);
  EXPECT_EQ(Isa::kNone, IsaFor(RandomWeight({Encoding::kQuantized, 2, QuantGrid::kSigned, 32}, 2, 64, 1)));
  hwy::SetSupportedTargetsForTest(0);
}

// Same integer dot products, different float summation order: the x86 kernels (picked under the
// AVX2/AVX3 target masks) match the Highway scalar int8 path to float rounding.
TEST(KernelsInt8Test, X86BytePathMatchesTheHighwayInt8Path) {
  Int8Activations int8;
  const std::vector<int64_t> targets = TargetsToTest();
  for (int bits : {2, 4, 8}) {
    for (QuantGrid grid : {QuantGrid::kSigned, QuantGrid::kAsymmetric, QuantGrid::kSymmetricHalf}) {
      for (int64_t gs : {32, 64, 128, 256, 0}) {
        for (int64_t cols : {32, 96, 224, 480, 1568}) {
          const WeightCase wc{Encoding::kQuantized, bits, grid, gs};
          SCOPED_TRACE(wc.Name() + " cols " + std::to_string(cols));
          const WeightTensor w = RandomWeight(wc, 6, cols, 11);
          const std::vector<float> x = ActivationsWithOutlier(cols, 12);
          const double scale = OutputScales(w, x.data(), 1)[0];
          hwy::SetSupportedTargetsForTest(HWY_SCALAR);
          std::vector<float> highway(6), y(6);
          MatMul(w, x.data(), 1, highway.data());
          for (int64_t target : targets) {
            hwy::SetSupportedTargetsForTest(target);
            MatMul(w, x.data(), 1, y.data());
            for (int r = 0; r < 6; ++r) ASSERT_NEAR(y[r], highway[r], 1e-6 * scale) << hwy::TargetName(target) << " row " << r;
          }
          hwy::SetSupportedTargetsForTest(0);
        }
      }
    }
  }
}

// The block quantizer against a scalar reference on every target: the largest |x| of each block maps
// to ±127, values round to nearest with ties to even, the partial last block is quantized alone, an
// all-zero block gets scale 0 and a block holding inf or NaN scale NaN (their codes stay zero).
TEST(KernelsInt8Test, QuantizeBlocksMatchesTheScalarDefinitionOnEveryTarget) {
  constexpr int64_t kCols = 32 * 5 + 7;
  std::vector<float> x = ActivationsWithOutlier(kCols, 31);
  std::fill(x.begin() + 32, x.begin() + 64, 0.0f);                   // block 1: all zero
  x[70] = std::numeric_limits<float>::infinity();                    // block 2: inf
  x[100] = std::numeric_limits<float>::quiet_NaN();                  // block 3: NaN
  // Block 4: scale exactly 1, the others halfway between two integers.
  for (int64_t c = 128; c < 160; ++c) x[c] = static_cast<float>(c - 144) + 0.5f;
  x[128] = 127.0f;
  const int64_t blocks = (kCols + 31) / 32;
  std::vector<int16_t> want_q(kCols, 0);
  std::vector<float> want_scale(blocks), want_sum(blocks);
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t c1 = std::min(kCols, (b + 1) * 32);
    float max_abs = 0.0f;
    bool finite = true;
    for (int64_t c = b * 32; c < c1; ++c) {
      finite = finite && std::isfinite(x[c]);
      if (finite) max_abs = std::max(max_abs, std::fabs(x[c]));
    }
    want_scale[b] = !finite ? std::numeric_limits<float>::quiet_NaN() : max_abs / 127.0f;
    want_sum[b] = 0.0f;
    if (!finite || max_abs == 0.0f) continue;
    int32_t sum = 0;
    for (int64_t c = b * 32; c < c1; ++c) {
      want_q[c] = static_cast<int16_t>(std::nearbyint(x[c] * (127.0f / max_abs)));  // default mode: ties to even
      sum += want_q[c];
    }
    want_sum[b] = want_scale[b] * static_cast<float>(sum);
  }
  for (int64_t target : TargetsToTest()) {
    SCOPED_TRACE(hwy::TargetName(target));
    hwy::SetSupportedTargetsForTest(target);
    std::vector<int16_t> q(kCols + 9, 0);  // the caller's padding past cols stays untouched
    std::vector<float> scale(blocks), sum(blocks);
    kernels::QuantizeBlocks(x.data(), kCols, q.data(), scale.data(), sum.data());
    for (int64_t c = 0; c < kCols; ++c) ASSERT_EQ(want_q[c], q[c]) << "column " << c;
    for (int64_t c = kCols; c < kCols + 9; ++c) ASSERT_EQ(0, q[c]);
    for (int64_t b = 0; b < blocks; ++b) {
      if (std::isnan(want_scale[b])) {
        EXPECT_TRUE(std::isnan(scale[b])) << "block " << b;
      } else {
        EXPECT_EQ(want_scale[b], scale[b]) << "block " << b;
      }
      EXPECT_EQ(want_sum[b], sum[b]) << "block " << b;
    }
    EXPECT_EQ(127, q[128]);
    EXPECT_EQ(2, q[146]);   // 2.5
    EXPECT_EQ(4, q[147]);   // 3.5
    EXPECT_EQ(-2, q[141]);  // -2.5
  }
  hwy::SetSupportedTargetsForTest(0);
}

// MatMulMany (a layer's q/k/v or gate/up in one parallel region, one quantization of x) gives every
// output bit for bit as its own MatMul call, for weights of different codes, groups and encodings
// read in one call (each needs its own int8 form of x), at decode and prefill, on every target and
// thread count, with either activation path.
TEST(KernelsInt8Test, MatMulManyEqualsOneMatMulPerWeight) {
  const std::vector<WeightTensor> ws = {
      RandomWeight({Encoding::kQuantized, 2, QuantGrid::kSigned, 128}, 70, 576, 41),
      RandomWeight({Encoding::kQuantized, 4, QuantGrid::kAsymmetric, 64}, 19, 576, 42),
      RandomWeight({Encoding::kQuantized, 3, QuantGrid::kAsymmetric, 128}, 33, 576, 43),
      RandomWeight({Encoding::kQuantized, 2, QuantGrid::kSigned, 128}, 5, 576, 44),
      RandomWeight({Encoding::kF16}, 17, 576, 45),
  };
  for (bool int8 : {true, false}) {
    ActivationPath path(int8);
    for (int64_t n_tokens : {1, 3}) {
      const std::vector<float> x = ActivationsWithOutlier(576 * n_tokens, 46);
      for (int64_t target : TargetsToTest()) {
        hwy::SetSupportedTargetsForTest(target);
        for (int threads : {1, 2, 3}) {
          SCOPED_TRACE(std::string(hwy::TargetName(target)) + " int8 " + std::to_string(int8) + " tokens " +
                       std::to_string(n_tokens) + " threads " + std::to_string(threads));
          SetNumThreads(threads);
          std::vector<std::vector<float>> one(ws.size()), many(ws.size());
          std::vector<MatMulOutput> outs;
          for (size_t i = 0; i < ws.size(); ++i) {
            one[i].resize(static_cast<size_t>(ws[i].rows() * n_tokens));
            many[i].resize(one[i].size(), -1.0f);
            outs.push_back({&ws[i], many[i].data()});
          }
          MatMulMany(outs, x.data(), n_tokens);
          for (size_t i = 0; i < ws.size(); ++i) MatMul(ws[i], x.data(), n_tokens, one[i].data());
          for (size_t i = 0; i < ws.size(); ++i) {
            ASSERT_EQ(0, std::memcmp(one[i].data(), many[i].data(), one[i].size() * sizeof(float))) << ws[i].type_name();
          }
        }
      }
      hwy::SetSupportedTargetsForTest(0);
      SetNumThreads(0);
    }
  }
}

TEST(KernelsInt8Test, ZeroActivationsGiveZeroAndDenseWeightsKeepTheFloatPath) {
  Int8Activations int8;
  const WeightTensor w = RandomWeight({Encoding::kQuantized, 4, QuantGrid::kAsymmetric, 32}, 5, 64, 4);
  const std::vector<float> zeros(64, 0.0f);
  std::vector<float> y(5, 1.0f);
  MatMul(w, zeros.data(), 1, y.data());
  EXPECT_EQ(std::vector<float>(5, 0.0f), y);

  const WeightTensor dense = RandomWeight({Encoding::kF16}, 5, 64, 4);
  const std::vector<float> x = RandomActivations(64, 5);
  std::vector<float> ref(5);
  MatMulReference(dense, x.data(), 1, ref.data());
  MatMul(dense, x.data(), 1, y.data());
  const double scale = OutputScales(dense, x.data(), 1)[0];
  for (int r = 0; r < 5; ++r) EXPECT_NEAR(y[r], ref[r], 1e-5 * scale);
}

// PrepareForMatMul widens 3-bit codes to 4 bits where the 4-bit byte-dot path applies (the shapes
// IsaFor accepts, on an x86 CPU with the AVX2 or AVX3 target), with every dequantized value bit for
// bit the same, and leaves every other tensor, and every tensor off that path, as it is.
// Tile order (CodeOrder::kTiles16) holds the same bytes: every path gives what row order gives. The
// paths that decode to floats (GEMM, GetRow, DequantizeRow) read a row-order copy and give exactly
// the same values, on every target (the GEMM untiles whole tiles by register transposes on AVX2 and
// AVX-512). The GEMVs give the row-order result within float rounding (1e-6 of the output
// scale), identical for every thread count: the AVX-512 VNNI kernel reads tiles, and the others read
// a copy of their rows, whose last rows they sum differently (only whole vectors that fit the buffer).
TEST(KernelsInt8Test, TileOrderGivesTheRowOrderResultsOnEveryPath) {
  Int8Activations int8;
  for (int bits : {2, 4, 8}) {
    for (QuantGrid grid : {QuantGrid::kSigned, QuantGrid::kAsymmetric, QuantGrid::kSymmetricHalf}) {
      for (int64_t gs : {32, 64, 128, 256, 0}) {
        for (auto [rows, cols] : {std::pair<int64_t, int64_t>{16, 32}, {48, 96}, {32, 224}, {16, 576}, {64, 1568}}) {
          const WeightCase wc{Encoding::kQuantized, bits, grid, gs};
          SCOPED_TRACE(wc.Name() + " " + std::to_string(rows) + "x" + std::to_string(cols));
          const WeightTensor w = RandomWeight(wc, rows, cols, 31);
          const WeightTensor tiled = InTileOrder(w);
          ASSERT_TRUE(tiled.Validate().ok());
          std::vector<uint8_t> storage;
          const WeightTensor back = RowOrderCopy(tiled, 0, rows, storage);
          ASSERT_EQ(back.order, CodeOrder::kRows);
          ASSERT_EQ(0, std::memcmp(back.data.data(), w.data.data(), w.data.size()));
          ASSERT_EQ(0, std::memcmp(back.scales.data(), w.scales.data(), w.scales.size()));
          ASSERT_EQ(0, std::memcmp(back.zero_points.data(), w.zero_points.data(), w.zero_points.size()));
          std::vector<float> a(static_cast<size_t>(cols)), b(a.size());
          for (int64_t r : {int64_t{0}, rows / 2 + 1, rows - 1}) {
            DequantizeRow(w, r, a.data());
            DequantizeRow(tiled, r, b.data());
            ASSERT_EQ(a, b) << "DequantizeRow " << r;
            GetRow(w, r, a.data());
            GetRow(tiled, r, b.data());
            ASSERT_EQ(a, b) << "GetRow " << r;
          }
          const std::vector<float> x = ActivationsWithOutlier(3 * cols, 32);
          const double scale = OutputScales(w, x.data(), 1)[0];
          for (int64_t target : TargetsToTest()) {
            hwy::SetSupportedTargetsForTest(target);
            std::vector<float> y_rows(static_cast<size_t>(3 * rows)), y_tiles(y_rows.size());
            MatMul(w, x.data(), 3, y_rows.data());  // prefill: tiles back to rows by whole-tile transposes
            MatMul(tiled, x.data(), 3, y_tiles.data());
            ASSERT_EQ(y_rows, y_tiles) << hwy::TargetName(target) << " prefill";
            y_rows.resize(static_cast<size_t>(rows));
            y_tiles.resize(y_rows.size());
            for (bool int8_activations : {true, false}) {
              ActivationPath path(int8_activations);
              MatMul(w, x.data(), 1, y_rows.data());
              std::vector<float> first;
              for (int threads : {1, 2, 3}) {
                SetNumThreads(threads);
                MatMul(tiled, x.data(), 1, y_tiles.data());
                for (int64_t r = 0; r < rows; ++r) {
                  ASSERT_NEAR(y_tiles[r], y_rows[r], 1e-6 * scale)
                      << hwy::TargetName(target) << (int8_activations ? " int8" : " float") << " row " << r;
                }
                if (first.empty()) first = y_tiles;
                ASSERT_EQ(first, y_tiles) << threads << " threads";
              }
            }
            SetNumThreads(0);
          }
          hwy::SetSupportedTargetsForTest(0);
        }
      }
    }
  }
}

// PrepareForMatMul puts 2-, 4- and 8-bit codes (3-bit ones once widened) in tile order exactly where
// the AVX-512 VNNI GEMV reads it (int8 activations, whole tiles), and WeightTensor::Validate refuses
// tile order on any other tensor. Its two steps, WidenForMatMul and TileOrderPays, say the same.
TEST(KernelsInt8Test, PrepareForMatMulTilesWhereTheTileKernelApplies) {
  using kernels::x86::Isa;
  using kernels::x86::IsaFor;
  for (bool int8_activations : {true, false}) {
    ActivationPath path(int8_activations);
    for (int bits : {2, 3, 4, 8}) {
      for (auto [rows, cols, gs] : {std::tuple<int64_t, int64_t, int64_t>{32, 576, 128}, {17, 576, 128}, {32, 36, 36}}) {
        const WeightTensor w = RandomWeight({Encoding::kQuantized, bits, QuantGrid::kAsymmetric, gs}, rows, cols, 3);
        const WeightTensor p = PrepareForMatMul(w);
        const bool expected = p.quant.bits != 3 && int8_activations && IsaFor(p) == Isa::kAvx512Vnni &&
                              rows % kTileRows == 0;
        EXPECT_EQ(p.order, expected ? CodeOrder::kTiles16 : CodeOrder::kRows)
            << bits << " bits " << rows << "x" << cols << (int8_activations ? " int8" : " float");
        EXPECT_TRUE(p.Validate().ok());
        const WeightTensor wide = WidenForMatMul(w);
        EXPECT_EQ(wide.order, CodeOrder::kRows);
        EXPECT_EQ(wide.quant, p.quant);
        EXPECT_EQ(TileOrderPays(wide), expected);
        EXPECT_FALSE(TileOrderPays(p));  // already in the form
      }
    }
  }
  WeightTensor three_bit = RandomWeight({Encoding::kQuantized, 3, QuantGrid::kAsymmetric, 128}, 32, 256, 3);
  three_bit.order = CodeOrder::kTiles16;
  EXPECT_EQ(three_bit.Validate().code(), StatusCode::kInvalidArgument);
  WeightTensor odd_rows = RandomWeight({Encoding::kQuantized, 2, QuantGrid::kAsymmetric, 128}, 17, 256, 3);
  odd_rows.order = CodeOrder::kTiles16;
  EXPECT_EQ(odd_rows.Validate().code(), StatusCode::kInvalidArgument);
}

TEST(KernelsInt8Test, PrepareForMatMulWidensThreeBitCodesWithTheSameValues) {
  Int8Activations int8;
  using kernels::x86::Isa;
  using kernels::x86::IsaFor;
  const bool x86 = IsaFor(RandomWeight({Encoding::kQuantized, 4, QuantGrid::kSigned, 32}, 2, 64, 1)) != Isa::kNone;
  for (QuantGrid grid : {QuantGrid::kSigned, QuantGrid::kAsymmetric, QuantGrid::kSymmetricHalf}) {
    for (int64_t gs : {32, 128, 0, 36}) {
      for (int64_t cols : {int64_t{576}, int64_t{172}}) {
        const WeightCase wc{Encoding::kQuantized, 3, grid, gs};
        SCOPED_TRACE(wc.Name() + " cols " + std::to_string(cols));
        const WeightTensor w = RandomWeight(wc, 9, cols, 21);
        const WeightTensor p = PrepareForMatMul(w);
        const bool widens = x86 && (gs == 0 || gs % 32 == 0) && cols % 32 == 0;
        ASSERT_EQ(widens ? 4 : 3, p.quant.bits);
        ASSERT_TRUE(p.Validate().ok());
        EXPECT_EQ(w.name, p.name);
        EXPECT_EQ(w.quant.group_size, p.quant.group_size);
        EXPECT_EQ(w.quant.grid, p.quant.grid);
        const std::vector<float> stored = DequantizeToFloat(w), prepared = DequantizeToFloat(p);
        ASSERT_EQ(0, std::memcmp(stored.data(), prepared.data(), stored.size() * sizeof(float)));
        if (!widens) {
          EXPECT_EQ(w.data.data(), p.data.data());
          continue;
        }
        // The widened tensor runs on the byte-dot path, within the int8 rounding bound of the
        // reference of the stored one.
        EXPECT_NE(Isa::kNone, IsaFor(p));
        const std::vector<float> x = ActivationsWithOutlier(cols, 22);
        std::vector<float> ref(9), y(9);
        MatMulReference(w, x.data(), 1, ref.data());
        MatMul(p, x.data(), 1, y.data());
        const std::vector<double> bounds = RoundingBounds(w, x);
        const double scale = OutputScales(w, x.data(), 1)[0];
        for (int r = 0; r < 9; ++r) EXPECT_NEAR(y[r], ref[r], bounds[r] + 1e-5 * scale) << "row " << r;
      }
    }
  }
  // Off the byte-dot path (the portable target) the 3-bit codes stay; other encodings always do.
  const WeightTensor three = RandomWeight({Encoding::kQuantized, 3, QuantGrid::kSymmetricHalf, 128}, 4, 256, 3);
  hwy::SetSupportedTargetsForTest(HWY_SCALAR);
  EXPECT_EQ(3, PrepareForMatMul(three).quant.bits);
  hwy::SetSupportedTargetsForTest(0);
  for (const WeightCase& wc : {WeightCase{Encoding::kF16}, WeightCase{Encoding::kQuantized, 2, QuantGrid::kSigned, 32},
                               WeightCase{Encoding::kQuantized, 4, QuantGrid::kAsymmetric, 128},
                               WeightCase{Encoding::kQuantized, 8, QuantGrid::kSigned, 0}}) {
    const WeightTensor w = RandomWeight(wc, 4, 256, 5);
    const WeightTensor p = PrepareForMatMul(w);
    EXPECT_EQ(w.data.data(), p.data.data()) << wc.Name();
    EXPECT_EQ(w.quant, p.quant) << wc.Name();
  }
}

}  // namespace
}  // namespace llmc
