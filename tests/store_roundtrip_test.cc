// Store round trips through the library: what goes in comes out bit for bit, V1 and V2.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <random>

#include "llmc/file.h"
#include "llmc/quant.h"
#include "llmc/store.h"
#include "test_util.h"

namespace llmc {
namespace {

using testing::ScratchDir;

std::vector<uint8_t> RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

WeightTensor DenseTensor(const std::string& name, std::vector<int64_t> shape, DType dtype, uint32_t seed) {
  WeightTensor t;
  t.name = name;
  t.shape = std::move(shape);
  t.encoding = EncodingOf(dtype);
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 0.05f);
  std::vector<float> values(static_cast<size_t>(t.numel()));
  for (float& v : values) v = dist(rng);
  std::vector<uint8_t> bytes(values.size() * static_cast<size_t>(DTypeSize(dtype)));
  FromFloat(dtype, values.data(), bytes.data(), static_cast<int64_t>(values.size()));
  t.data = Bytes::Own(std::move(bytes));
  return t;
}

// A quantized tensor built by hand: random codes, positive fp16 scales, random zeros when asymmetric.
WeightTensor QuantTensor(const std::string& name, int64_t rows, int64_t cols, QuantSpec spec, uint32_t seed) {
  WeightTensor t;
  t.name = name;
  t.shape = {rows, cols};
  t.encoding = Encoding::kQuantized;
  t.quant = spec;
  t.data = Bytes::Own(RandomBytes(t.expected_data_bytes(), seed));
  std::mt19937 rng(seed + 1);
  std::uniform_real_distribution<float> scale(0.001f, 0.05f);
  std::vector<uint16_t> scales(t.expected_scale_bytes() / 2);
  for (auto& s : scales) s = FloatToHalf(scale(rng));
  t.scales = Bytes::CopyOf(scales.data(), scales.size());
  if (spec.grid == QuantGrid::kAsymmetric) {
    std::vector<uint8_t> zeros(t.expected_zero_bytes());
    for (auto& z : zeros) z = static_cast<uint8_t>(rng() % (1u << spec.bits));
    t.zero_points = Bytes::Own(std::move(zeros));
  }
  return t;
}

StoreMetadata Metadata(int version) {
  StoreMetadata meta;
  meta.format_version = version;
  meta.config.hidden_size = 64;
  meta.config.intermediate_size = 172;
  meta.config.num_layers = 1;
  meta.config.num_heads = 4;
  meta.config.num_kv_heads = 2;
  meta.config.head_dim = 16;
  meta.config.vocab_size = 100;
  meta.config.max_position = 256;
  meta.tokenizer = {{"type", "test"}, {"vocab", {"a", "b"}}};
  meta.extra = {{"source", "store_roundtrip_test"}};
  return meta;
}

bool SameBytes(const Bytes& a, const Bytes& b) {
  return a.size() == b.size() && (a.size() == 0 || std::memcmp(a.data(), b.data(), a.size()) == 0);
}

void WriteStore(const std::string& path, int version, const std::vector<WeightTensor>& tensors) {
  auto writer = StoreWriter::Open(path, Metadata(version));
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();
  for (const auto& t : tensors) ASSERT_TRUE((*writer)->Write(t).ok()) << t.name;
  ASSERT_TRUE((*writer)->Close().ok());
}

void ExpectRoundTrip(const std::string& path, const std::vector<WeightTensor>& tensors) {
  auto loader = WeightLoaderV2::Open(path);
  ASSERT_TRUE(loader.ok()) << loader.status().ToString();
  ASSERT_EQ((*loader)->tensors().size(), tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const WeightTensor& want = tensors[i];
    EXPECT_EQ((*loader)->tensors()[i].name, want.name);
    EXPECT_EQ((*loader)->tensors()[i].type_name, want.type_name());
    auto got = (*loader)->Load(want.name);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(got->shape, want.shape) << want.name;
    EXPECT_EQ(got->encoding, want.encoding) << want.name;
    EXPECT_EQ(got->quant, want.quant) << want.name;
    EXPECT_TRUE(SameBytes(got->data, want.data)) << want.name;
    EXPECT_TRUE(SameBytes(got->scales, want.scales)) << want.name;
    EXPECT_TRUE(SameBytes(got->zero_points, want.zero_points)) << want.name;
  }
}

TEST(StoreRoundTrip, DenseV1KeepsEveryDTypeBitIdentical) {
  ScratchDir dir;
  const std::vector<WeightTensor> tensors = {
      DenseTensor("model.embed_tokens.weight", {100, 64}, DType::kF32, 1),
      DenseTensor("model.layers.0.self_attn.q_proj.weight", {64, 64}, DType::kF16, 2),
      DenseTensor("model.layers.0.mlp.down_proj.weight", {64, 172}, DType::kBF16, 3),
      DenseTensor("model.norm.weight", {64}, DType::kF16, 4),
      DenseTensor("scalar_without_layer", {1}, DType::kF32, 5),
  };
  WriteStore(dir.File("v1.parquet"), kStoreFormatV1, tensors);
  ExpectRoundTrip(dir.File("v1.parquet"), tensors);
}

TEST(StoreRoundTrip, MetadataRoundTrips) {
  ScratchDir dir;
  WriteStore(dir.File("m.parquet"), kStoreFormatV1, {DenseTensor("a.weight", {4, 4}, DType::kF32, 1)});
  auto loader = WeightLoaderV2::Open(dir.File("m.parquet"));
  ASSERT_TRUE(loader.ok()) << loader.status().ToString();
  const StoreMetadata& meta = (*loader)->metadata();
  const StoreMetadata want = Metadata(kStoreFormatV1);
  EXPECT_EQ(meta.format_version, kStoreFormatV1);
  EXPECT_EQ(meta.config.ToJson(), want.config.ToJson());
  EXPECT_EQ(meta.tokenizer, want.tokenizer);
  EXPECT_EQ(meta.extra, want.extra);
}

TEST(StoreRoundTrip, QuantizedV2BitIdenticalForEveryWidthAndGrid) {
  ScratchDir dir;
  // 172-wide rows: groups of 64 leave a short last group, and odd bit widths cross byte boundaries.
  const std::vector<WeightTensor> tensors = {
      QuantTensor("model.layers.0.mlp.up_proj.weight", 8, 172, {2, 64, QuantGrid::kSigned}, 11),
      QuantTensor("model.layers.0.mlp.gate_proj.weight", 8, 172, {2, 32, QuantGrid::kSymmetricHalf}, 12),
      QuantTensor("model.layers.0.mlp.down_proj.weight", 5, 172, {3, 64, QuantGrid::kAsymmetric}, 13),
      QuantTensor("model.layers.0.self_attn.o_proj.weight", 6, 172, {4, 128, QuantGrid::kAsymmetric}, 14),
      QuantTensor("model.layers.0.self_attn.v_proj.weight", 3, 172, {8, 172, QuantGrid::kSigned}, 15),
      DenseTensor("model.norm.weight", {64}, DType::kF32, 16),
  };
  WriteStore(dir.File("v2.parquet"), kStoreFormatV2, tensors);
  ExpectRoundTrip(dir.File("v2.parquet"), tensors);
}

TEST(StoreRoundTrip, LoadDequantizedMatchesReference) {
  ScratchDir dir;
  const WeightTensor q = QuantTensor("l.weight", 7, 172, {2, 64, QuantGrid::kAsymmetric}, 21);
  const WeightTensor d = DenseTensor("d.weight", {3, 172}, DType::kBF16, 22);
  WriteStore(dir.File("v2.parquet"), kStoreFormatV2, {q, d});
  auto loader = WeightLoaderV2::Open(dir.File("v2.parquet"));
  ASSERT_TRUE(loader.ok()) << loader.status().ToString();
  for (const WeightTensor* src : {&q, &d}) {
    const std::vector<float> want = DequantizeToFloat(*src);
    auto f32 = (*loader)->LoadDequantized(src->name, DType::kF32);
    ASSERT_TRUE(f32.ok()) << f32.status().ToString();
    ASSERT_EQ(f32->encoding, Encoding::kF32);
    ASSERT_EQ(f32->data.size(), want.size() * 4);
    EXPECT_EQ(std::memcmp(f32->data.data(), want.data(), f32->data.size()), 0) << src->name;
    auto f16 = (*loader)->LoadDequantized(src->name, DType::kF16);
    ASSERT_TRUE(f16.ok()) << f16.status().ToString();
    ASSERT_EQ(f16->encoding, Encoding::kF16);
    for (size_t i = 0; i < want.size(); ++i) {
      ASSERT_EQ(f16->data.as<uint16_t>()[i], FloatToHalf(want[i])) << src->name << " element " << i;
    }
  }
}

TEST(StoreRoundTrip, IndexReportsSizesAndBitsPerWeight) {
  ScratchDir dir;
  const WeightTensor q = QuantTensor("l.weight", 4, 128, {2, 64, QuantGrid::kSigned}, 31);
  WriteStore(dir.File("v2.parquet"), kStoreFormatV2, {q});
  auto loader = WeightLoaderV2::Open(dir.File("v2.parquet"));
  ASSERT_TRUE(loader.ok()) << loader.status().ToString();
  const TensorInfo& info = (*loader)->tensors().at(0);
  EXPECT_EQ(info.shape, (std::vector<int64_t>{4, 128}));
  EXPECT_EQ(info.type_name, "int2");
  // 4 rows × (32 code bytes + 2 scales × 2 bytes) = 144 bytes for 512 weights: 2.25 bits per weight.
  EXPECT_EQ(info.stored_bytes, 144);
  EXPECT_DOUBLE_EQ(info.bits_per_weight, 2.25);
}

TEST(StoreWriterTest, V1RefusesQuantizedTensorNamingIt) {
  ScratchDir dir;
  auto writer = StoreWriter::Open(dir.File("v1.parquet"), Metadata(kStoreFormatV1));
  ASSERT_TRUE(writer.ok());
  const Status st = (*writer)->Write(QuantTensor("blk.weight", 2, 64, {4, 32, QuantGrid::kSigned}, 1));
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("blk.weight"), std::string::npos) << st.message();
}

// A model's 2-bit weights may be held in the decode kernels' tile order; a store holds rows as stored.
TEST(StoreWriterTest, RefusesTileOrderNamingTheTensor) {
  ScratchDir dir;
  auto writer = StoreWriter::Open(dir.File("s.parquet"), Metadata(kStoreFormatV2));
  ASSERT_TRUE(writer.ok());
  const WeightTensor tiled = InTileOrder(QuantTensor("blk.weight", 16, 64, {2, 32, QuantGrid::kSigned}, 1));
  ASSERT_TRUE(tiled.Validate().ok());
  const Status st = (*writer)->Write(tiled);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("blk.weight"), std::string::npos) << st.message();
}

TEST(StoreWriterTest, RefusesDuplicateAndInconsistentTensors) {
  ScratchDir dir;
  auto writer = StoreWriter::Open(dir.File("s.parquet"), Metadata(kStoreFormatV2));
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Write(DenseTensor("a.weight", {2, 2}, DType::kF32, 1)).ok());
  EXPECT_EQ((*writer)->Write(DenseTensor("a.weight", {2, 2}, DType::kF32, 1)).code(), StatusCode::kInvalidArgument);
  WeightTensor short_data = DenseTensor("b.weight", {2, 2}, DType::kF32, 1);
  short_data.shape = {3, 2};
  const Status st = (*writer)->Write(short_data);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("b.weight"), std::string::npos) << st.message();
}

TEST(StoreWriterTest, RefusesConfigTheLoaderWouldReject) {
  ScratchDir dir;
  StoreMetadata meta = Metadata(kStoreFormatV1);
  meta.config.num_heads = 0;
  const Status st = StoreWriter::Open(dir.File("s.parquet"), meta).status();
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("num_heads"), std::string::npos) << st.message();
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(StoreWriterTest, UnclosedWriterLeavesNothingBehind) {
  ScratchDir dir;
  const std::string path = dir.File("unfinished.parquet");
  {
    auto writer = StoreWriter::Open(path, Metadata(kStoreFormatV1));
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Write(DenseTensor("a.weight", {8, 8}, DType::kF16, 1)).ok());
    EXPECT_FALSE(FileExists(path));  // still under its temporary name
  }
  EXPECT_FALSE(FileExists(path));
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(StoreWriterTest, ZstdCompressionRoundTrips) {
  ScratchDir dir;
  const std::vector<WeightTensor> tensors = {DenseTensor("a.weight", {32, 32}, DType::kF16, 1)};
  StoreWriteOptions options;
  options.compression = "zstd";
  auto writer = StoreWriter::Open(dir.File("z.parquet"), Metadata(kStoreFormatV1), options);
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();
  ASSERT_TRUE((*writer)->Write(tensors[0]).ok());
  ASSERT_TRUE((*writer)->Close().ok());
  ExpectRoundTrip(dir.File("z.parquet"), tensors);
  options.compression = "lz5";
  EXPECT_EQ(StoreWriter::Open(dir.File("bad.parquet"), Metadata(kStoreFormatV1), options).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(StoreLoaderTest, MissingTensorIsNotFoundNamingIt) {
  ScratchDir dir;
  WriteStore(dir.File("s.parquet"), kStoreFormatV1, {DenseTensor("a.weight", {2, 2}, DType::kF32, 1)});
  auto loader = WeightLoaderV2::Open(dir.File("s.parquet"));
  ASSERT_TRUE(loader.ok());
  EXPECT_TRUE((*loader)->Has("a.weight"));
  EXPECT_FALSE((*loader)->Has("b.weight"));
  const Status st = (*loader)->Load("b.weight").status();
  EXPECT_EQ(st.code(), StatusCode::kNotFound);
  EXPECT_NE(st.message().find("b.weight"), std::string::npos) << st.message();
}

TEST(StoreLoaderTest, FlippedTensorByteFailsChecksumNamingTensor) {
  ScratchDir dir;
  const std::string path = dir.File("s.parquet");
  // A constant-valued tensor makes its bytes easy to find in the file.
  WeightTensor t = MakeF32Tensor("model.layers.0.mlp.up_proj.weight", {16, 16}, std::vector<float>(256, 0.125f));
  WriteStore(path, kStoreFormatV1, {t});
  std::string bytes = testing::ReadFile(path);
  const float pattern[4] = {0.125f, 0.125f, 0.125f, 0.125f};
  const size_t at = bytes.find(std::string(reinterpret_cast<const char*>(pattern), sizeof(pattern)));
  ASSERT_NE(at, std::string::npos);
  bytes[at + 100] ^= 0x01;
  testing::WriteFile(path, bytes);
  auto loader = WeightLoaderV2::Open(path);
  ASSERT_TRUE(loader.ok()) << loader.status().ToString();
  const Status st = (*loader)->Load(t.name).status();
  EXPECT_EQ(st.code(), StatusCode::kCorrupt);
  EXPECT_NE(st.message().find(t.name), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("checksum"), std::string::npos) << st.message();
}

TEST(StoreLoaderTest, ToDenseKeepsMatchingDenseTensorsUntouched) {
  const WeightTensor t = DenseTensor("a.weight", {3, 5}, DType::kBF16, 7);
  const WeightTensor same = ToDense(t, DType::kBF16);
  EXPECT_EQ(same.data.data(), t.data.data());  // no copy
  const WeightTensor f32 = ToDense(t, DType::kF32);
  const std::vector<float> want = DequantizeToFloat(t);
  ASSERT_EQ(f32.data.size(), want.size() * 4);
  EXPECT_EQ(std::memcmp(f32.data.data(), want.data(), f32.data.size()), 0);
}

}  // namespace
}  // namespace llmc
