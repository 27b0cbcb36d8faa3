#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "io/gguf_dequant.h"
#include "test_util.h"

namespace llmc {
namespace {

std::string DequantDir() { return testing::FixturesDir() + "/gguf/dequant"; }

std::vector<float> ReadFloats(const std::string& path) {
  const std::string bytes = testing::ReadFile(path);
  std::vector<float> v(bytes.size() / sizeof(float));
  std::memcpy(v.data(), bytes.data(), v.size() * sizeof(float));
  return v;
}

// Every decoded type against gguf-py's dequantization of the same blocks
// (scripts/make_gguf_fixtures.py); ggml's arithmetic order is kept, so results agree to float rounding.
TEST(IoGgufDequantTest, EveryTypeMatchesGgufPyReference) {
  const auto manifest = nlohmann::json::parse(testing::ReadFile(DequantDir() + "/manifest.json"));
  std::set<std::string> covered;
  for (const auto& [name, info] : manifest.items()) {
    SCOPED_TRACE(name);
    auto traits = GgmlTypeTraitsFor(info["type_id"].get<uint32_t>());
    ASSERT_TRUE(traits.ok()) << traits.status().ToString();
    EXPECT_EQ(std::string((*traits)->name), name);
    const int64_t numel = info["rows"].get<int64_t>() * info["cols"].get<int64_t>();
    const std::string blocks = testing::ReadFile(DequantDir() + "/" + name + ".blocks");
    ASSERT_EQ(static_cast<int64_t>(blocks.size()), numel / (*traits)->block_elems * (*traits)->block_bytes);
    const std::vector<float> ref = ReadFloats(DequantDir() + "/" + name + ".f32");
    ASSERT_EQ(static_cast<int64_t>(ref.size()), numel);
    const std::vector<float> got =
        DequantizeToF32(**traits, reinterpret_cast<const uint8_t*>(blocks.data()), numel);
    for (int64_t i = 0; i < numel; ++i) {
      ASSERT_NEAR(got[i], ref[i], 1e-6f * std::fabs(ref[i]) + 1e-12f) << "element " << i;
    }
    covered.insert(name);
  }
  for (const auto& t : AllGgmlTypeTraits()) EXPECT_TRUE(covered.count(t.name)) << t.name << " has no fixture";
}

TEST(IoGgufDequantTest, TraitsMatchGgmlBlockSizes) {
  struct Expected {
    GgmlType type;
    int64_t elems, bytes;
  };
  const Expected expected[] = {{GgmlType::kQ4_0, 32, 18},   {GgmlType::kQ4_1, 32, 20},  {GgmlType::kQ5_0, 32, 22},
                               {GgmlType::kQ5_1, 32, 24},   {GgmlType::kQ8_0, 32, 34},  {GgmlType::kQ2_K, 256, 84},
                               {GgmlType::kQ3_K, 256, 110}, {GgmlType::kQ4_K, 256, 144}, {GgmlType::kQ5_K, 256, 176},
                               {GgmlType::kQ6_K, 256, 210}, {GgmlType::kF16, 1, 2},      {GgmlType::kBF16, 1, 2}};
  for (const auto& e : expected) {
    auto t = GgmlTypeTraitsFor(static_cast<uint32_t>(e.type));
    ASSERT_TRUE(t.ok());
    EXPECT_EQ((*t)->block_elems, e.elems) << (*t)->name;
    EXPECT_EQ((*t)->block_bytes, e.bytes) << (*t)->name;
  }
}

TEST(IoGgufDequantTest, UnsupportedTypesAreNamed) {
  auto iq = GgmlTypeTraitsFor(16);
  ASSERT_FALSE(iq.ok());
  EXPECT_EQ(iq.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(iq.status().message().find("IQ2_XXS"), std::string::npos);
  auto unknown = GgmlTypeTraitsFor(999);
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("999"), std::string::npos);
}

}  // namespace
}  // namespace llmc
