#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "llmc/quant.h"
#include "quant/packing.h"

namespace llmc {
namespace {

constexpr QuantGrid kGrids[] = {QuantGrid::kSigned, QuantGrid::kAsymmetric, QuantGrid::kSymmetricHalf};
constexpr int kBits[] = {2, 3, 4, 8};
constexpr int64_t kPerChannel = -1;  // group size = row length
constexpr int64_t kGroupSizes[] = {32, 64, 128, kPerChannel};
const std::vector<std::vector<int64_t>> kShapes = {{1, 1}, {3, 5}, {7, 300}, {4, 172}, {2, 3, 64}};

WeightTensor Gaussian(std::vector<int64_t> shape, uint32_t seed, float sigma = 0.02f) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = dist(rng);
  return MakeF32Tensor("w", std::move(shape), std::move(v));
}

RtnOptions Clip(bool on) {
  RtnOptions o;
  o.mse_clip = on;
  return o;
}

std::vector<float> Values(const WeightTensor& t) { return DequantizeToFloat(t); }

double SquaredError(const std::vector<float>& a, const std::vector<float>& b) {
  double e = 0;
  for (size_t i = 0; i < a.size(); ++i) e += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
  return e;
}

float ScaleOf(const WeightTensor& q, int64_t row, int64_t col) {
  const int64_t g = col / q.quant.group_size;
  return HalfToFloat(q.scales.as<uint16_t>()[row * q.groups_per_row() + g]);
}

std::string Label(int bits, QuantGrid grid, int64_t gs, const std::vector<int64_t>& shape) {
  return fmt::format("int{} {} group {} shape {}", bits, QuantGridName(grid), gs, ShapeToString(shape));
}

// Unclipped RTN: every weight lies within half a step of its reconstruction, in every group, the short
// last group of 172- and 300-wide rows included.
TEST(QuantRtnTest, UnclippedErrorIsWithinHalfAStepForEveryBitsGridAndGroupSize) {
  for (int bits : kBits) {
    for (QuantGrid grid : kGrids) {
      for (int64_t gs_choice : kGroupSizes) {
        for (const auto& shape : kShapes) {
          const WeightTensor w = Gaussian(shape, static_cast<uint32_t>(bits + 7 * shape.back()));
          const int64_t gs = gs_choice == kPerChannel ? w.cols() : gs_choice;
          const std::string label = Label(bits, grid, gs, shape);
          auto q = QuantizeRtn(w, {bits, gs, grid}, Clip(false));
          ASSERT_TRUE(q.ok()) << label << ": " << q.status().ToString();
          ASSERT_TRUE(q->Validate().ok()) << label;
          EXPECT_EQ(q->groups_per_row(), (w.cols() + gs - 1) / gs) << label;
          const auto orig = Values(w);
          const auto deq = Values(*q);
          for (int64_t r = 0; r < w.rows(); ++r) {
            for (int64_t c = 0; c < w.cols(); ++c) {
              const size_t i = static_cast<size_t>(r * w.cols() + c);
              const float half_step = ScaleOf(*q, r, c) / 2;
              ASSERT_LE(std::fabs(orig[i] - deq[i]), half_step * (1 + 1e-5f) + 1e-9f)
                  << label << " row " << r << " col " << c;
            }
          }
        }
      }
    }
  }
}

// The clip search includes the unclipped scale, so it can only lower each group's squared error.
TEST(QuantRtnTest, ClippedErrorNeverExceedsUnclippedError) {
  for (int bits : kBits) {
    for (QuantGrid grid : kGrids) {
      for (int64_t gs_choice : kGroupSizes) {
        for (const auto& shape : kShapes) {
          const WeightTensor w = Gaussian(shape, static_cast<uint32_t>(3 * bits + shape.back()));
          const int64_t gs = gs_choice == kPerChannel ? w.cols() : gs_choice;
          const std::string label = Label(bits, grid, gs, shape);
          auto plain = QuantizeRtn(w, {bits, gs, grid}, Clip(false));
          auto clipped = QuantizeRtn(w, {bits, gs, grid}, Clip(true));
          ASSERT_TRUE(plain.ok() && clipped.ok()) << label;
          const auto orig = Values(w);
          EXPECT_LE(SquaredError(orig, Values(*clipped)), SquaredError(orig, Values(*plain)) * (1 + 1e-6)) << label;
        }
      }
    }
  }
}

TEST(QuantRtnTest, MseClippingLowersTwoBitErrorOnGaussianWeights) {
  const WeightTensor w = Gaussian({64, 512}, 42);
  const auto orig = Values(w);
  for (QuantGrid grid : kGrids) {
    auto plain = QuantizeRtn(w, {2, 128, grid}, Clip(false));
    auto clipped = QuantizeRtn(w, {2, 128, grid}, Clip(true));
    ASSERT_TRUE(plain.ok() && clipped.ok());
    const double e_plain = SquaredError(orig, Values(*plain));
    const double e_clip = SquaredError(orig, Values(*clipped));
    // Gaussian groups of 128 reach ~2.6σ; the MSE-optimal 2-bit range is far narrower.
    EXPECT_LT(e_clip, 0.8 * e_plain) << QuantGridName(grid) << ": " << e_clip << " vs " << e_plain;
  }
}

// A group much smaller than the rest of its row gets its own small scale: the 44-wide tail of a
// 172-wide row with groups of 128 is quantized from its own elements only.
TEST(QuantRtnTest, ShortLastGroupOfARowHasItsOwnScale) {
  std::vector<float> v(172);
  for (int j = 0; j < 128; ++j) v[j] = (j % 2 == 0 ? 1.0f : -1.0f) * 10.0f;
  for (int j = 128; j < 172; ++j) v[j] = 0.001f * static_cast<float>(j - 150);
  const WeightTensor w = MakeF32Tensor("tail", {1, 172}, v);
  for (QuantGrid grid : kGrids) {
    auto q = QuantizeRtn(w, {4, 128, grid}, Clip(false));
    ASSERT_TRUE(q.ok());
    ASSERT_EQ(q->groups_per_row(), 2);
    EXPECT_GT(ScaleOf(*q, 0, 0), 1.0f);
    EXPECT_LT(ScaleOf(*q, 0, 171), 0.01f) << QuantGridName(grid);
    const auto deq = Values(*q);
    for (int j = 128; j < 172; ++j) EXPECT_NEAR(deq[j], v[j], 0.0021f) << QuantGridName(grid) << " col " << j;
  }
}

TEST(QuantRtnTest, AllZeroRowsGiveZeroScalesAndExactZeros) {
  const WeightTensor w = MakeF32Tensor("zeros", {3, 172}, std::vector<float>(3 * 172, 0.0f));
  for (int bits : kBits) {
    for (QuantGrid grid : kGrids) {
      for (bool clip : {false, true}) {
        auto q = QuantizeRtn(w, {bits, 64, grid}, Clip(clip));
        ASSERT_TRUE(q.ok()) << q.status().ToString();
        for (float x : Values(*q)) ASSERT_EQ(x, 0.0f) << Label(bits, grid, 64, w.shape);
      }
    }
  }
}

struct ConstantCase {
  int bits;
  QuantGrid grid;
  float value;  // chosen so the scale the grid needs is exact in fp16
};

TEST(QuantRtnTest, ConstantRowsReconstructExactlyWhereRepresentable) {
  const ConstantCase cases[] = {
      {2, QuantGrid::kSigned, 0.5f},          // scale 0.5, code +1
      {2, QuantGrid::kSigned, -2.0f},         // scale 1, code -2
      {4, QuantGrid::kSigned, -0.25f},        // scale 1/32, code -8
      {2, QuantGrid::kSymmetricHalf, 1.5f},   // scale 1, code +1.5
      {4, QuantGrid::kAsymmetric, 3.75f},     // scale 0.25, code 15, zero 0
      {2, QuantGrid::kAsymmetric, -0.75f},    // scale 0.25, zero 3, code 0
      {8, QuantGrid::kSigned, 127.0f},        // scale 1, code +127
  };
  for (const auto& c : cases) {
    const WeightTensor w = MakeF32Tensor("const", {2, 40}, std::vector<float>(80, c.value));
    for (bool clip : {false, true}) {
      auto q = QuantizeRtn(w, {c.bits, 32, c.grid}, Clip(clip));
      ASSERT_TRUE(q.ok());
      for (float x : Values(*q)) ASSERT_EQ(x, c.value) << "int" << c.bits << " " << QuantGridName(c.grid);
    }
  }
}

TEST(QuantRtnTest, ConstantRowsAreCloseAndFiniteOnEveryGrid) {
  const WeightTensor w = MakeF32Tensor("const", {2, 100}, std::vector<float>(200, 0.0137f));
  for (int bits : kBits) {
    for (QuantGrid grid : kGrids) {
      auto q = QuantizeRtn(w, {bits, 32, grid});
      ASSERT_TRUE(q.ok());
      for (float x : Values(*q)) {
        ASSERT_TRUE(std::isfinite(x));
        ASSERT_NEAR(x, 0.0137f, 0.0137f * 2e-3f) << Label(bits, grid, 32, w.shape);
      }
    }
  }
}

// int2 on the signed grid has codes {-2,-1,0,1}·s: a negative extreme takes the long side exactly.
TEST(QuantRtnTest, SignedGridMapsTheExtremeToTheFarEndOfItsSide) {
  const WeightTensor w = MakeF32Tensor("w", {1, 4}, {-1.0f, -0.5f, 0.0f, 0.5f});
  auto q = QuantizeRtn(w, {2, 4, QuantGrid::kSigned}, Clip(false));
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(ScaleOf(*q, 0, 0), 0.5f);
  EXPECT_EQ(Values(*q), (std::vector<float>{-1.0f, -0.5f, 0.0f, 0.5f}));
}

TEST(QuantRtnTest, Int8UsesTheSymmetricCodesMinus127To127) {
  const WeightTensor w = Gaussian({8, 256}, 5);
  auto q = QuantizeRtn(w, {8, 256, QuantGrid::kSigned});
  ASSERT_TRUE(q.ok());
  auto codes = UnpackCodes(std::span<const uint8_t>(q->data.data(), q->data.size()), 256, 8);
  ASSERT_TRUE(codes.ok());
  bool reaches_an_end = false;
  for (uint8_t c : *codes) {
    ASSERT_GE(c, 1) << "code -128 used";
    reaches_an_end |= c == 1 || c == 255;
  }
  EXPECT_TRUE(reaches_an_end);
}

// The importance-weighted search minimises the weighted error, so it does at least as well on it as
// the unweighted search does.
TEST(QuantRtnTest, ImportanceWeightsTheClipSearch) {
  const WeightTensor w = Gaussian({16, 256}, 9);
  std::vector<float> importance(256);
  for (size_t j = 0; j < importance.size(); ++j) importance[j] = j % 16 == 0 ? 50.0f : 0.1f;
  RtnOptions weighted_options;
  weighted_options.importance = importance;
  auto weighted = QuantizeRtn(w, {2, 128, QuantGrid::kSigned}, weighted_options);
  auto plain = QuantizeRtn(w, {2, 128, QuantGrid::kSigned}, Clip(true));
  ASSERT_TRUE(weighted.ok() && plain.ok());
  auto weighted_error = [&](const WeightTensor& q) {
    const auto a = Values(w), b = Values(q);
    double e = 0;
    for (size_t i = 0; i < a.size(); ++i) e += importance[i % 256] * (a[i] - b[i]) * (a[i] - b[i]);
    return e;
  };
  EXPECT_LT(weighted_error(*weighted), weighted_error(*plain));
}

TEST(QuantRtnTest, AcceptsHalfAndBFloat16Input) {
  const WeightTensor f32 = Gaussian({4, 64}, 11);
  const auto values = Values(f32);
  for (DType dtype : {DType::kF16, DType::kBF16}) {
    std::vector<uint8_t> bytes(values.size() * 2);
    FromFloat(dtype, values.data(), bytes.data(), static_cast<int64_t>(values.size()));
    WeightTensor t;
    t.name = "half";
    t.shape = {4, 64};
    t.encoding = EncodingOf(dtype);
    t.data = Bytes::Own(std::move(bytes));
    auto q = QuantizeRtn(t, {8, 64, QuantGrid::kSigned});
    ASSERT_TRUE(q.ok());
    const auto deq = Values(*q);
    for (size_t i = 0; i < deq.size(); ++i) ASSERT_NEAR(deq[i], values[i], 0.08f * 0.02f) << DTypeName(dtype);
  }
}

TEST(QuantRtnTest, BadInputIsAnErrorNamingTheTensor) {
  WeightTensor w = Gaussian({2, 8}, 1);
  w.name = "model.layers.0.mlp.up_proj.weight";
  auto bits5 = QuantizeRtn(w, {5, 8, QuantGrid::kSigned});
  ASSERT_FALSE(bits5.ok());
  EXPECT_NE(bits5.status().message().find("bits 5 (expected 2, 3, 4 or 8)"), std::string::npos);
  EXPECT_NE(bits5.status().message().find(w.name), std::string::npos);
  EXPECT_FALSE(QuantizeRtn(w, {4, 0, QuantGrid::kSigned}).ok());
  const std::vector<float> wrong_importance(3, 1.0f);
  RtnOptions wrong_options;
  wrong_options.importance = wrong_importance;
  EXPECT_FALSE(QuantizeRtn(w, {4, 8, QuantGrid::kSigned}, wrong_options).ok());

  auto q = QuantizeRtn(w, {4, 8, QuantGrid::kSigned});
  ASSERT_TRUE(q.ok());
  EXPECT_FALSE(QuantizeRtn(*q, {4, 8, QuantGrid::kSigned}).ok());  // already quantized

  std::vector<float> v(16, 0.1f);
  v[11] = std::nanf("");
  auto nan = QuantizeRtn(MakeF32Tensor("nan_tensor", {2, 8}, v), {2, 8, QuantGrid::kSigned});
  ASSERT_FALSE(nan.ok());
  EXPECT_NE(nan.status().message().find("nan_tensor': non-finite weight in row 1"), std::string::npos);

  v[11] = 1e6f;  // int2 would need a scale of 1e6, beyond fp16's 65504
  auto huge = QuantizeRtn(MakeF32Tensor("huge", {2, 8}, v), {2, 8, QuantGrid::kSigned});
  ASSERT_FALSE(huge.ok());
  EXPECT_NE(huge.status().message().find("fp16 range"), std::string::npos);
}

TEST(QuantRtnTest, BitsPerWeightCountsScalesAndZeroPoints) {
  const WeightTensor w = Gaussian({4, 256}, 3);
  auto sym = QuantizeRtn(w, {2, 128, QuantGrid::kSigned});
  auto asym = QuantizeRtn(w, {2, 128, QuantGrid::kAsymmetric});
  ASSERT_TRUE(sym.ok() && asym.ok());
  EXPECT_DOUBLE_EQ(sym->bits_per_weight(), 2.0 + 16.0 / 128);
  EXPECT_DOUBLE_EQ(asym->bits_per_weight(), 2.0 + 24.0 / 128);
}

}  // namespace
}  // namespace llmc
