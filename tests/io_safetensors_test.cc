#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "llmc/import.h"
#include "test_util.h"

namespace llmc {
namespace {

using testing::ScratchDir;
using testing::WriteFile;

// A safetensors file: 8-byte little-endian header length, the header, then the data.
std::string SafetensorsBytes(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(n >> (8 * i));
  return out + header + data;
}

std::string FloatBytes(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

const char* kTinyLlamaConfig = R"({"model_type": "llama", "hidden_size": 8, "intermediate_size": 16,
  "num_hidden_layers": 1, "num_attention_heads": 2, "vocab_size": 4})";

void ExpectErrorNaming(const Status& st, StatusCode code, const std::string& needle) {
  EXPECT_EQ(st.code(), code) << st.ToString();
  EXPECT_NE(st.message().find(needle), std::string::npos) << st.ToString();
}

TEST(IoSafetensorsTest, Stories260KImportsWithShapesConfigAndRawValues) {
  const std::string dir = testing::Stories260KDir();
  auto m = ImportModel(dir);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->source_format, "safetensors");
  const ModelConfig& c = m->config;
  EXPECT_EQ(c.arch, Architecture::kLlama);
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.intermediate_size, 172);
  EXPECT_EQ(c.num_layers, 5);
  EXPECT_EQ(c.num_heads, 8);
  EXPECT_EQ(c.num_kv_heads, 4);
  EXPECT_EQ(c.head_dim, 8);
  EXPECT_EQ(c.vocab_size, 512);
  EXPECT_EQ(c.max_position, 512);
  EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-5);
  EXPECT_DOUBLE_EQ(c.rope_theta, 10000.0);
  EXPECT_EQ(c.rope_scaling.type, "none");
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(c.bos_token_id, 1);
  EXPECT_EQ(c.eos_token_id, 2);
  EXPECT_FALSE(m->tokenizer.is_null());

  ASSERT_EQ(m->tensors.size(), 2u + 5u * 9u);
  const TensorSource* down = nullptr;
  for (const auto& t : m->tensors) {
    if (t.name == "model.layers.0.mlp.down_proj.weight") down = &t;
  }
  ASSERT_NE(down, nullptr);
  EXPECT_EQ(down->shape, (std::vector<int64_t>{64, 172}));
  EXPECT_EQ(down->source_type, "F32");
  auto w = down->load();
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(w->encoding, Encoding::kF32);
  ASSERT_TRUE(w->Validate().ok());

  // The header says down_proj of layer 0 occupies data bytes [131328, 175360); header length is 5000.
  const std::string raw = testing::ReadFile(dir + "/model.safetensors");
  const size_t base = 8 + 5000 + 131328;
  for (size_t i : {size_t{0}, size_t{1}, size_t{171}, size_t{64 * 172 - 1}}) {
    float expected;
    std::memcpy(&expected, raw.data() + base + 4 * i, 4);
    EXPECT_EQ(w->data.as<float>()[i], expected) << "element " << i;
  }
}

TEST(IoSafetensorsTest, ReadsF16AndBF16AndIgnoresMetadata) {
  ScratchDir dir;
  const std::string header = R"({"__metadata__": {"format": "pt"},
    "a": {"dtype": "F16", "shape": [2], "data_offsets": [0, 4]},
    "b": {"dtype": "BF16", "shape": [1, 2], "data_offsets": [4, 8]}})";
  const std::string data = std::string("\x00\x3c\x00\xc0", 4) + std::string("\x80\x3f\x00\x40", 4);
  WriteFile(dir.File("x.safetensors"), SafetensorsBytes(header, data));
  auto tensors = ReadSafetensorsFile(dir.File("x.safetensors"));
  ASSERT_TRUE(tensors.ok()) << tensors.status().ToString();
  ASSERT_EQ(tensors->size(), 2u);
  EXPECT_EQ((*tensors)[0].name, "a");
  EXPECT_EQ((*tensors)[0].dtype, DType::kF16);
  EXPECT_EQ(HalfToFloat((*tensors)[0].data.as<uint16_t>()[0]), 1.0f);
  EXPECT_EQ(HalfToFloat((*tensors)[0].data.as<uint16_t>()[1]), -2.0f);
  const WeightTensor b = ToWeightTensor((*tensors)[1], "b");
  EXPECT_EQ(b.encoding, Encoding::kBF16);
  EXPECT_EQ(b.shape, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(BF16ToFloat(b.data.as<uint16_t>()[0]), 1.0f);
  EXPECT_EQ(BF16ToFloat(b.data.as<uint16_t>()[1]), 2.0f);
}

struct BadFileCase {
  const char* label;
  std::string contents;
  StatusCode code;
  const char* detail;
};

TEST(IoSafetensorsTest, BadFilesGiveErrorsNamingTheFile) {
  const std::string ok_entry = R"("w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]})";
  const std::string data = FloatBytes({1, 2});
  std::string huge_len(8, '\xff');
  const std::vector<BadFileCase> cases = {
      {"short", std::string("\x05\x00\x00", 3), StatusCode::kCorrupt, "too short"},
      {"header_past_eof", huge_len + "{}", StatusCode::kCorrupt, "header length"},
      {"bad_json", SafetensorsBytes("{not json", data), StatusCode::kCorrupt, "not valid JSON"},
      {"shape_mismatch",
       SafetensorsBytes(R"({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})", data),
       StatusCode::kCorrupt, "needs 12 bytes"},
      {"unknown_dtype", SafetensorsBytes(R"({"w": {"dtype": "I32", "shape": [2], "data_offsets": [0, 8]}})", data),
       StatusCode::kUnsupported, "I32"},
      {"reversed", SafetensorsBytes(R"({"w": {"dtype": "F32", "shape": [0], "data_offsets": [8, 0]}})", data),
       StatusCode::kCorrupt, "reversed"},
      {"past_eof", SafetensorsBytes("{" + ok_entry + "}", data.substr(0, 6)), StatusCode::kCorrupt, "past its end"},
      {"overflow",
       SafetensorsBytes(
           R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 8]}})", data),
       StatusCode::kCorrupt, "overflowing"},
  };
  ScratchDir dir;
  for (const auto& c : cases) {
    const std::string path = dir.File(std::string(c.label) + ".safetensors");
    WriteFile(path, c.contents);
    auto r = ReadSafetensorsFile(path);
    ASSERT_FALSE(r.ok()) << c.label;
    SCOPED_TRACE(c.label);
    ExpectErrorNaming(r.status(), c.code, path);
    ExpectErrorNaming(r.status(), c.code, c.detail);
  }
}

TEST(IoSafetensorsTest, ShardedCheckpointReadsEveryShardOfTheIndex) {
  ScratchDir dir;
  WriteFile(dir.File("config.json"), kTinyLlamaConfig);
  WriteFile(dir.File("s1.safetensors"),
            SafetensorsBytes(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", FloatBytes({1, 2})));
  WriteFile(dir.File("s2.safetensors"),
            SafetensorsBytes(R"({"b": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})", FloatBytes({3})));
  WriteFile(dir.File("model.safetensors.index.json"),
            R"({"metadata": {}, "weight_map": {"a": "s1.safetensors", "b": "s2.safetensors"}})");
  auto m = ImportModel(dir.path());
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_TRUE(m->tokenizer.is_null());  // no tokenizer files in the directory
  ASSERT_EQ(m->tensors.size(), 2u);
  EXPECT_EQ(m->tensors[1].name, "b");
  auto b = m->tensors[1].load();
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->data.as<float>()[0], 3.0f);

  WriteFile(dir.File("model.safetensors.index.json"),
            R"({"weight_map": {"a": "s2.safetensors", "b": "s2.safetensors"}})");
  auto wrong = ImportModel(dir.path());
  ASSERT_FALSE(wrong.ok());
  ExpectErrorNaming(wrong.status(), StatusCode::kCorrupt, "model.safetensors.index.json");
}

TEST(IoSafetensorsTest, DirectoryWithoutConfigOrWeightsIsNotFound) {
  ScratchDir dir;
  auto no_config = ImportModel(dir.path());
  ASSERT_FALSE(no_config.ok());
  ExpectErrorNaming(no_config.status(), StatusCode::kNotFound, dir.File("config.json"));

  WriteFile(dir.File("config.json"), kTinyLlamaConfig);
  auto no_weights = ImportModel(dir.path());
  ASSERT_FALSE(no_weights.ok());
  ExpectErrorNaming(no_weights.status(), StatusCode::kNotFound, "model.safetensors");
}

TEST(IoSafetensorsTest, MisalignedTensorIsCopiedToAnAlignedBuffer) {
  ScratchDir dir;
  // Data offset 2 puts the F32 tensor at a non-multiple of 4 (header length 8 + 64 bytes of header).
  std::string header = R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [2, 6]}})";
  header.resize(64, ' ');
  WriteFile(dir.File("m.safetensors"), SafetensorsBytes(header, std::string(2, '\0') + FloatBytes({7.5f})));
  auto tensors = ReadSafetensorsFile(dir.File("m.safetensors"));
  ASSERT_TRUE(tensors.ok()) << tensors.status().ToString();
  const WeightTensor w = ToWeightTensor((*tensors)[0], "w");
  EXPECT_EQ(reinterpret_cast<uintptr_t>(w.data.data()) % 4, 0u);
  EXPECT_EQ(w.data.as<float>()[0], 7.5f);
}

TEST(IoSafetensorsTest, PathThatIsNeitherDirectoryNorGgufIsUnsupported) {
  ScratchDir dir;
  WriteFile(dir.File("notes.txt"), "hello world");
  auto r = ImportModel(dir.File("notes.txt"));
  ASSERT_FALSE(r.ok());
  ExpectErrorNaming(r.status(), StatusCode::kUnsupported, "expected a HuggingFace directory or a .gguf file");
  auto missing = ImportModel(dir.File("absent"));
  ASSERT_FALSE(missing.ok());
  ExpectErrorNaming(missing.status(), StatusCode::kNotFound, "absent");
}

}  // namespace
}  // namespace llmc
