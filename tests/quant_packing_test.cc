#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "llmc/quant.h"
#include "quant/packing.h"

namespace llmc {
namespace {

std::vector<uint8_t> RandomCodes(size_t n, int bits, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dist(0, (1 << bits) - 1);
  std::vector<uint8_t> codes(n);
  for (auto& c : codes) c = static_cast<uint8_t>(dist(rng));
  return codes;
}

TEST(QuantPackingTest, RoundTripsExactlyForEveryBitWidthAndRowLength) {
  for (int bits = 1; bits <= 8; ++bits) {
    for (int64_t cols : {1, 3, 5, 7, 8, 172, 300}) {
      const int64_t rows = 3;
      const auto codes = RandomCodes(static_cast<size_t>(rows * cols), bits, static_cast<uint32_t>(bits * 1000 + cols));
      auto packed = PackCodes(codes, cols, bits);
      ASSERT_TRUE(packed.ok()) << packed.status().ToString();
      EXPECT_EQ(static_cast<int64_t>(packed->size()), rows * ((cols * bits + 7) / 8)) << bits << " bits, " << cols;
      auto unpacked = UnpackCodes(*packed, cols, bits);
      ASSERT_TRUE(unpacked.ok()) << unpacked.status().ToString();
      EXPECT_EQ(*unpacked, codes) << bits << " bits, " << cols << " columns";
    }
  }
}

// The layout is a little-endian bit stream per row: checked by hand for a few bytes.
TEST(QuantPackingTest, MatchesTheDocumentedBitLayout) {
  auto two = PackCodes(std::vector<uint8_t>{1, 2, 3, 0, 3}, 5, 2);
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(*two, (std::vector<uint8_t>{0b00111001, 0b00000011}));
  // 3-bit codes 5, 6, 7 occupy bits 0-2, 3-5 and 6-8: the third straddles the byte boundary.
  auto three = PackCodes(std::vector<uint8_t>{5, 6, 7}, 3, 3);
  ASSERT_TRUE(three.ok());
  EXPECT_EQ(*three, (std::vector<uint8_t>{0b11110101, 0b00000001}));
  // Each row starts on a byte boundary: two rows of three 2-bit codes take a byte each.
  auto rows = PackCodes(std::vector<uint8_t>{1, 1, 1, 2, 2, 2}, 3, 2);
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(*rows, (std::vector<uint8_t>{0b010101, 0b101010}));
}

// The packer and the reference dequantizer (reference.cc) agree on which code is where: with scale 1
// and zero 0 on the asymmetric grid, DequantizeRow returns the codes themselves.
TEST(QuantPackingTest, ReferenceDequantizationReadsPackedCodes) {
  for (int bits : {2, 3, 4, 8}) {
    const int64_t rows = 2, cols = 172;
    const auto codes = RandomCodes(static_cast<size_t>(rows * cols), bits, static_cast<uint32_t>(bits));
    WeightTensor w;
    w.name = "t";
    w.shape = {rows, cols};
    w.encoding = Encoding::kQuantized;
    w.quant = {bits, cols, QuantGrid::kAsymmetric};
    w.data = Bytes::Own(*PackCodes(codes, cols, bits));
    const std::vector<uint16_t> scales(rows, FloatToHalf(1.0f));
    w.scales = Bytes::CopyOf(scales.data(), scales.size());
    w.zero_points = Bytes::Own(std::vector<uint8_t>(rows, 0));
    ASSERT_TRUE(w.Validate().ok());
    const std::vector<float> values = DequantizeToFloat(w);
    for (size_t i = 0; i < codes.size(); ++i) ASSERT_EQ(values[i], static_cast<float>(codes[i])) << bits << " @" << i;
  }
}

TEST(QuantPackingTest, RejectsCodesThatDoNotFitAndRaggedSizes) {
  auto too_big = PackCodes(std::vector<uint8_t>{0, 4}, 2, 2);
  ASSERT_FALSE(too_big.ok());
  EXPECT_NE(too_big.status().message().find("code 4 at index 1 does not fit in 2 bits"), std::string::npos);
  EXPECT_FALSE(PackCodes(std::vector<uint8_t>{0, 1, 2}, 2, 2).ok());   // not whole rows
  EXPECT_FALSE(PackCodes(std::vector<uint8_t>{0, 1}, 2, 9).ok());      // no such width
  EXPECT_FALSE(UnpackCodes(std::vector<uint8_t>{0, 1, 2}, 5, 2).ok());  // 2-byte rows
  EXPECT_FALSE(UnpackCodes(std::vector<uint8_t>{0}, 0, 2).ok());
}

}  // namespace
}  // namespace llmc
