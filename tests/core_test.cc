#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "llmc/dtype.h"
#include "llmc/file.h"
#include "llmc/model_config.h"
#include "llmc/tensor.h"
#include "test_util.h"

namespace llmc {
namespace {

TEST(HalfTest, EveryFiniteHalfRoundTripsExactly) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const auto bits = static_cast<uint16_t>(h);
    const bool is_nan = (bits & 0x7c00) == 0x7c00 && (bits & 0x3ff) != 0;
    if (is_nan) {
      EXPECT_TRUE(std::isnan(HalfToFloat(bits)));
      continue;
    }
    EXPECT_EQ(FloatToHalf(HalfToFloat(bits)), bits) << std::hex << h;
  }
}

TEST(HalfTest, RoundsToNearestEvenAndSaturatesToInfinity) {
  EXPECT_EQ(FloatToHalf(1.0f), 0x3c00);
  EXPECT_EQ(FloatToHalf(1.0f + 1.0f / 2048), 0x3c00);  // halfway between 1 and next: ties to even
  EXPECT_EQ(FloatToHalf(1.0f + 3.0f / 2048), 0x3c02);
  EXPECT_EQ(FloatToHalf(65504.0f), 0x7bff);
  EXPECT_EQ(FloatToHalf(70000.0f), 0x7c00);
  EXPECT_EQ(FloatToHalf(-std::numeric_limits<float>::infinity()), 0xfc00);
  EXPECT_EQ(FloatToHalf(5.96046448e-08f), 0x0001);  // smallest subnormal
  EXPECT_EQ(FloatToHalf(2.0e-08f), 0x0000);
}

TEST(BF16Test, RoundTripAndRounding) {
  EXPECT_EQ(BF16ToFloat(FloatToBF16(1.5f)), 1.5f);
  EXPECT_EQ(FloatToBF16(1.0f + 1.0f / 256), 0x3f80);  // tie to even
  EXPECT_TRUE(std::isnan(BF16ToFloat(FloatToBF16(std::numeric_limits<float>::quiet_NaN()))));
}

TEST(StatusTest, ResultCarriesValueOrError) {
  Result<int> ok = 3;
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 3);
  Result<int> bad = Status::Corrupt("{}: header length {} exceeds file size {}", "a.safetensors", 10, 4);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kCorrupt);
  EXPECT_EQ(bad.status().ToString(), "corrupt input: a.safetensors: header length 10 exceeds file size 4");
}

TEST(TensorTest, QuantizedByteCountsFollowShapeAndGroups) {
  WeightTensor t;
  t.name = "w";
  t.shape = {3, 172};
  t.encoding = Encoding::kQuantized;
  t.quant = {2, 128, QuantGrid::kAsymmetric};
  EXPECT_EQ(t.groups_per_row(), 2);  // 128 + a 44-wide tail group
  EXPECT_EQ(t.row_bytes(), 43);
  EXPECT_EQ(t.expected_data_bytes(), 129u);
  EXPECT_EQ(t.expected_scale_bytes(), 12u);
  EXPECT_EQ(t.expected_zero_bytes(), 6u);
  EXPECT_FALSE(t.Validate().ok());
  t.data = Bytes::Own(std::vector<uint8_t>(129));
  t.scales = Bytes::Own(std::vector<uint8_t>(12));
  t.zero_points = Bytes::Own(std::vector<uint8_t>(6));
  EXPECT_TRUE(t.Validate().ok());
  t.quant.bits = 3;
  EXPECT_EQ(t.row_bytes(), 65);  // 516 bits
}

TEST(ModelConfigTest, JsonRoundTripAndValidation) {
  ModelConfig c;
  c.hidden_size = 64;
  c.intermediate_size = 172;
  c.num_layers = 5;
  c.num_heads = 8;
  c.num_kv_heads = 4;
  c.head_dim = 8;
  c.vocab_size = 512;
  c.tie_word_embeddings = true;
  auto back = ModelConfig::FromJson(c.ToJson());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->ToJson(), c.ToJson());
  c.num_kv_heads = 3;
  EXPECT_FALSE(c.Validate().ok());
  auto j = back->ToJson();
  j["architecture"] = "gpt-neox";
  EXPECT_EQ(ModelConfig::FromJson(j).status().code(), StatusCode::kUnsupported);
}

TEST(AtomicOutputTest, NothingAppearsUnlessCommitted) {
  testing::ScratchDir dir;
  const std::string target = dir.File("out.bin");
  {
    AtomicOutput out(target);
    testing::WriteFile(out.temp_path(), "partial");
  }
  EXPECT_FALSE(FileExists(target));
  {
    AtomicOutput out(target);
    testing::WriteFile(out.temp_path(), "whole");
    ASSERT_TRUE(out.Commit().ok());
  }
  EXPECT_EQ(testing::ReadFile(target), "whole");
}

TEST(MappedFileTest, MapsAndReportsMissingFiles) {
  testing::ScratchDir dir;
  testing::WriteFile(dir.File("a"), "hello");
  auto f = MappedFile::Open(dir.File("a"));
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>((*f)->data()), (*f)->size()), "hello");
  auto missing = MappedFile::Open(dir.File("nope"));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("nope"), std::string::npos);
}

}  // namespace
}  // namespace llmc
