#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "io/gguf.h"
#include "io/gguf_model.h"
#include "llmc/import.h"
#include "test_util.h"

namespace llmc {
namespace {

using testing::ScratchDir;
using testing::WriteFile;

// Little-endian bytes of a value.
template <typename T>
std::string Le(T v) {
  return std::string(reinterpret_cast<const char*>(&v), sizeof(v));
}
std::string GgufString(const std::string& text) { return Le(uint64_t{text.size()}) + text; }

// Builds GGUF bytes by hand, so tests can write files a real writer never would.
class GgufBuilder {
 public:
  // A key of the given value type followed by the value's encoding, as given.
  void Kv(const std::string& key, uint32_t type, const std::string& value_bytes) {
    ++n_kv_;
    kv_ += GgufString(key) + Le(type) + value_bytes;
  }
  void Tensor(const std::string& name, const std::vector<uint64_t>& ne, uint32_t type, uint64_t offset) {
    ++n_tensors_;
    tensors_ += GgufString(name) + Le(static_cast<uint32_t>(ne.size()));
    for (uint64_t d : ne) tensors_ += Le(d);
    tensors_ += Le(type) + Le(offset);
  }
  std::string Build(const std::string& data, uint32_t version = 3, const char* magic = "GGUF") const {
    std::string out = std::string(magic, 4) + Le(version) + Le(n_tensors_) + Le(n_kv_) + kv_ + tensors_;
    out.resize((out.size() + 31) / 32 * 32, '\0');
    return out + data;
  }

 private:
  uint64_t n_tensors_ = 0;
  uint64_t n_kv_ = 0;
  std::string kv_;
  std::string tensors_;
};

std::string TinyLlamaPath() { return testing::FixturesDir() + "/gguf/tiny_llama.gguf"; }

void ExpectErrorNaming(const Status& st, StatusCode code, const std::string& needle) {
  EXPECT_EQ(st.code(), code) << st.ToString();
  EXPECT_NE(st.message().find(needle), std::string::npos) << st.ToString();
}

TEST(IoGgufTest, ReadsMetadataTensorInfosAndData) {
  GgufBuilder plain;
  plain.Kv("general.architecture", 8, GgufString("llama"));
  plain.Kv("llama.block_count", 4, Le(uint32_t{7}));
  plain.Tensor("w", {4, 2}, 0, 0);  // F32, ne = [4, 2] -> shape [2, 4]
  std::vector<float> data = {1, 2, 3, 4, 5, 6, 7, 8};
  ScratchDir dir;
  const std::string path = dir.File("t.gguf");
  WriteFile(path, plain.Build(std::string(reinterpret_cast<const char*>(data.data()), 32)));
  auto g = GgufFile::Open(path);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ((*g)->version(), 3u);
  EXPECT_EQ((*g)->metadata()["general.architecture"], "llama");
  EXPECT_EQ((*g)->metadata()["llama.block_count"], 7);
  ASSERT_EQ((*g)->tensors().size(), 1u);
  const auto& t = (*g)->tensors()[0];
  EXPECT_EQ(t.shape, (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(t.bytes, 32u);
  EXPECT_EQ((*g)->TensorData(t).as<float>()[5], 6.0f);
}

TEST(IoGgufTest, ReadsEveryValueTypeIncludingNestedArrays) {
  GgufBuilder b;
  b.Kv("u8", 0, Le(uint8_t{200}));
  b.Kv("i8", 1, Le(int8_t{-5}));
  b.Kv("u16", 2, Le(uint16_t{60000}));
  b.Kv("i16", 3, Le(int16_t{-30000}));
  b.Kv("u32", 4, Le(uint32_t{4000000000u}));
  b.Kv("i32", 5, Le(int32_t{-2000000000}));
  b.Kv("f32", 6, Le(1e-5f));
  b.Kv("bool", 7, Le(uint8_t{1}));
  b.Kv("str", 8, GgufString("hi"));
  b.Kv("u64", 10, Le(uint64_t{1} << 63));
  b.Kv("i64", 11, Le(int64_t{-1} << 62));
  b.Kv("f64", 12, Le(0.1));
  // An array of two arrays: [u8 7, u8 8] and an empty array of strings.
  b.Kv("nested", 9,
       Le(uint32_t{9}) + Le(uint64_t{2}) + Le(uint32_t{0}) + Le(uint64_t{2}) + Le(uint8_t{7}) + Le(uint8_t{8}) +
           Le(uint32_t{8}) + Le(uint64_t{0}));
  const std::string file = b.Build("");
  ScratchDir dir;
  WriteFile(dir.File("v.gguf"), file);
  auto g = GgufFile::Open(dir.File("v.gguf"));
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  const auto& m = (*g)->metadata();
  EXPECT_EQ(m["u8"], 200);
  EXPECT_EQ(m["i8"], -5);
  EXPECT_EQ(m["u16"], 60000);
  EXPECT_EQ(m["i16"], -30000);
  EXPECT_EQ(m["u32"], 4000000000u);
  EXPECT_EQ(m["i32"], -2000000000);
  EXPECT_EQ(m["f32"].get<double>(), 1e-5);  // the decimal the writer meant, not the nearest float
  EXPECT_EQ(m["bool"], true);
  EXPECT_EQ(m["str"], "hi");
  EXPECT_EQ(m["u64"].get<uint64_t>(), uint64_t{1} << 63);
  EXPECT_EQ(m["i64"].get<int64_t>(), int64_t{-1} << 62);
  EXPECT_EQ(m["f64"].get<double>(), 0.1);
  EXPECT_EQ(m["nested"], nlohmann::json::parse("[[7, 8], []]"));
}

TEST(IoGgufTest, BadFilesGiveErrorsNamingTheFile) {
  ScratchDir dir;
  struct Case {
    const char* label;
    std::string contents;
    StatusCode code;
    const char* detail;
  };
  GgufBuilder unknown_type;
  unknown_type.Tensor("blk.0.attn_q.weight", {32, 1}, 77, 0);
  GgufBuilder iq_type;
  iq_type.Tensor("blk.0.ffn_up.weight", {256, 1}, 16, 0);
  GgufBuilder odd_row;
  odd_row.Tensor("w", {48, 1}, 2, 0);  // Q4_0 rows must be multiples of 32
  GgufBuilder past_end;
  past_end.Tensor("w", {8, 1}, 0, 0);  // needs 32 bytes of data, gets 4
  GgufBuilder huge_array;              // 2^60 strings claimed, none present
  huge_array.Kv("tokenizer.ggml.tokens", 9, Le(uint32_t{8}) + Le(uint64_t{1} << 60));
  GgufBuilder deep;  // arrays of arrays, 20 levels down
  std::string nesting;
  for (int i = 0; i < 20; ++i) nesting += Le(uint32_t{9}) + Le(uint64_t{1});
  deep.Kv("deep", 9, nesting);
  GgufBuilder misaligned;
  misaligned.Tensor("w", {1, 1}, 0, 4);
  const std::vector<Case> cases = {
      {"magic", GgufBuilder().Build("", 3, "GGUX"), StatusCode::kCorrupt, "bad magic"},
      {"tiny", "GG", StatusCode::kCorrupt, "bad magic"},
      {"v1", GgufBuilder().Build("", 1), StatusCode::kUnsupported, "version 1"},
      {"big_endian", GgufBuilder().Build("", 0x03000000), StatusCode::kUnsupported, "big-endian"},
      {"unknown_type", unknown_type.Build(std::string(64, '\0')), StatusCode::kUnsupported, "blk.0.attn_q.weight"},
      {"iq_type", iq_type.Build(std::string(128, '\0')), StatusCode::kUnsupported, "IQ2_XXS"},
      {"odd_row", odd_row.Build(std::string(64, '\0')), StatusCode::kCorrupt, "multiple of the block size"},
      {"past_end", past_end.Build(std::string(4, '\0')), StatusCode::kCorrupt, "past the end"},
      {"huge_array", huge_array.Build(""), StatusCode::kCorrupt, "array elements"},
      {"deep", deep.Build(""), StatusCode::kCorrupt, "nests arrays"},
      {"misaligned", misaligned.Build(std::string(64, '\0')), StatusCode::kCorrupt, "alignment"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    const std::string path = dir.File(std::string(c.label) + ".gguf");
    WriteFile(path, c.contents);
    auto g = GgufFile::Open(path);
    ASSERT_FALSE(g.ok());
    ExpectErrorNaming(g.status(), c.code, path);
    ExpectErrorNaming(g.status(), c.code, c.detail);
  }
}

TEST(IoGgufTest, EveryTruncationOfARealFileIsCorruptNotACrash) {
  const std::string full = testing::ReadFile(TinyLlamaPath());
  ASSERT_GT(full.size(), 100000u);
  ScratchDir dir;
  const std::string path = dir.File("cut.gguf");
  WriteFile(path, full);
  // Every length through the header region, then coarser steps through the tensor data; shrinking the
  // one file in place keeps this fast.
  std::vector<size_t> lengths;
  for (size_t len = 0; len < full.size(); len += len < 4096 ? 1 : 4093) lengths.push_back(len);
  for (auto it = lengths.rbegin(); it != lengths.rend(); ++it) {
    const size_t len = *it;
    ASSERT_EQ(::truncate(path.c_str(), static_cast<off_t>(len)), 0);
    auto g = GgufFile::Open(path);
    ASSERT_FALSE(g.ok()) << "length " << len;
    ASSERT_EQ(g.status().code(), StatusCode::kCorrupt) << "length " << len << ": " << g.status().ToString();
    ASSERT_NE(g.status().message().find(path), std::string::npos) << g.status().ToString();
  }
}

// Overwrites bytes of an existing file in place.
void PatchFile(const std::string& path, const std::vector<std::pair<size_t, char>>& bytes) {
  std::FILE* f = std::fopen(path.c_str(), "r+b");
  ASSERT_NE(f, nullptr);
  for (const auto& [pos, value] : bytes) {
    std::fseek(f, static_cast<long>(pos), SEEK_SET);
    std::fputc(static_cast<unsigned char>(value), f);
  }
  std::fclose(f);
}

TEST(IoGgufTest, RandomByteFlipsInTheHeaderNeverCrash) {
  const std::string full = testing::ReadFile(TinyLlamaPath());
  ScratchDir dir;
  const std::string path = dir.File("flip.gguf");
  WriteFile(path, full);
  std::mt19937 rng(7);
  int rejected = 0;
  for (int i = 0; i < 400; ++i) {
    std::vector<std::pair<size_t, char>> flips, restore;
    for (int k = 0; k < 3; ++k) {
      const size_t pos = rng() % 4096;
      flips.emplace_back(pos, static_cast<char>(rng()));
      restore.emplace_back(pos, full[pos]);
    }
    PatchFile(path, flips);
    auto g = GgufFile::Open(path);
    if (!g.ok()) {
      ++rejected;
      EXPECT_NE(g.status().message().find(path), std::string::npos) << g.status().ToString();
    }
    std::reverse(restore.begin(), restore.end());  // a position flipped twice gets its original back last
    PatchFile(path, restore);
  }
  EXPECT_GT(rejected, 0);
}

std::vector<float> AsFloats(const WeightTensor& w) {
  std::vector<float> v(static_cast<size_t>(w.numel()));
  const DType dt = w.encoding == Encoding::kF16 ? DType::kF16 : w.encoding == Encoding::kBF16 ? DType::kBF16 : DType::kF32;
  ToFloat(dt, w.data.data(), v.data(), w.numel());
  return v;
}

// The fixture's q/k rows were permuted as llama.cpp's converter does; its reference holds the HF order.
TEST(IoGgufTest, TinyLlamaImportsUnpermutedWithHfNames) {
  const std::string dir = testing::FixturesDir() + "/gguf";
  const auto entries = nlohmann::json::parse(testing::ReadFile(dir + "/tiny_llama_reference.json"));
  const std::string ref_bytes = testing::ReadFile(dir + "/tiny_llama_reference.f32");
  const float* ref = reinterpret_cast<const float*>(ref_bytes.data());

  auto m = ImportModel(TinyLlamaPath());
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->source_format, "gguf");
  EXPECT_EQ(m->config.arch, Architecture::kLlama);
  EXPECT_EQ(m->config.num_layers, 2);
  EXPECT_EQ(m->config.hidden_size, 64);
  EXPECT_EQ(m->config.intermediate_size, 256);
  EXPECT_EQ(m->config.num_heads, 4);
  EXPECT_EQ(m->config.num_kv_heads, 2);
  EXPECT_EQ(m->config.head_dim, 16);
  EXPECT_EQ(m->config.vocab_size, 32);
  EXPECT_EQ(m->config.max_position, 256);
  EXPECT_EQ(m->config.rope_theta, 500000.0);
  EXPECT_EQ(m->config.rms_norm_eps, 1e-5);
  EXPECT_FALSE(m->config.tie_word_embeddings);
  EXPECT_EQ(m->config.bos_token_id, 1);
  EXPECT_EQ(m->config.eos_token_id, 2);
  EXPECT_FALSE(m->tokenizer.is_null());

  ASSERT_EQ(m->tensors.size(), entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto& e = entries[i];
    const TensorSource& src = m->tensors[i];
    SCOPED_TRACE(src.name);
    EXPECT_EQ(src.name, e["name"].get<std::string>());
    EXPECT_EQ(src.shape, e["shape"].get<std::vector<int64_t>>());
    EXPECT_EQ(src.source_type, e["type"].get<std::string>());
    auto w = src.load();
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    ASSERT_TRUE(w->Validate().ok());
    const bool float_type = src.source_type == "F32" || src.source_type == "F16" || src.source_type == "BF16";
    EXPECT_EQ(w->encoding, float_type ? (src.source_type == "F16"    ? Encoding::kF16
                                         : src.source_type == "BF16" ? Encoding::kBF16
                                                                     : Encoding::kF32)
                                      : Encoding::kF32);
    const std::vector<float> got = AsFloats(*w);
    const float* want = ref + e["offset"].get<size_t>();
    for (size_t k = 0; k < got.size(); ++k) ASSERT_EQ(got[k], want[k]) << "element " << k;
  }
}

TEST(IoGgufTest, UnpermuteInvertsTheConverterPermutation) {
  // Two heads of 4 rows; GGUF row 2j+i of a head is HF row i*2+j.
  WeightTensor w = MakeF32Tensor("q", {8, 1}, {0, 2, 1, 3, 4, 6, 5, 7});
  auto r = UnpermuteHeadRows(w, 2);
  ASSERT_TRUE(r.ok());
  for (int i = 0; i < 8; ++i) EXPECT_EQ(r->data.as<float>()[i], static_cast<float>(i));
  auto bad = UnpermuteHeadRows(MakeF32Tensor("q", {6, 1}, std::vector<float>(6)), 2);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'q'"), std::string::npos);
}

TEST(IoGgufTest, TensorNamesMapToHuggingFace) {
  const std::map<std::string, std::string> expected = {
      {"token_embd.weight", "model.embed_tokens.weight"},
      {"output_norm.weight", "model.norm.weight"},
      {"output.weight", "lm_head.weight"},
      {"blk.3.attn_norm.weight", "model.layers.3.input_layernorm.weight"},
      {"blk.3.ffn_norm.weight", "model.layers.3.post_attention_layernorm.weight"},
      {"blk.3.attn_q.bias", "model.layers.3.self_attn.q_proj.bias"},
      {"blk.3.attn_output.weight", "model.layers.3.self_attn.o_proj.weight"},
      {"blk.3.attn_k_norm.weight", "model.layers.3.self_attn.k_norm.weight"},
      {"blk.3.ffn_down.weight", "model.layers.3.mlp.down_proj.weight"},
  };
  for (const auto& [gguf, hf] : expected) {
    auto name = HfTensorName(gguf, 4);
    ASSERT_TRUE(name.ok()) << name.status().ToString();
    EXPECT_EQ(*name, hf);
  }
  for (const char* bad : {"rope_freqs.weight", "blk.x.attn_q.weight", "blk.1.attn_qq.weight", "blk.1"}) {
    auto name = HfTensorName(bad, 4);
    ASSERT_FALSE(name.ok()) << bad;
    EXPECT_NE(name.status().message().find(bad), std::string::npos);
  }
  EXPECT_FALSE(HfTensorName("blk.4.attn_q.weight", 4).ok());  // layer out of range
}

const TensorSource* FindTensor(const ImportedModel& m, const std::string& name) {
  for (const auto& t : m.tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

TEST(IoGgufTest, SmolLM2ImportsWithConfigNamesAndUnpermutedRows) {
  const std::string path = testing::SmolLM2GgufPath();
  ASSERT_FALSE(path.empty()) << "the SmolLM2 GGUF is installed by scripts/setup.sh";
  auto m = ImportModel(path);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  const ModelConfig& c = m->config;
  EXPECT_EQ(c.arch, Architecture::kLlama);
  EXPECT_EQ(c.num_layers, 30);
  EXPECT_EQ(c.hidden_size, 576);
  EXPECT_EQ(c.num_heads, 9);
  EXPECT_EQ(c.num_kv_heads, 3);
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_EQ(c.intermediate_size, 1536);
  EXPECT_EQ(c.vocab_size, 49152);
  EXPECT_EQ(c.max_position, 8192);
  EXPECT_EQ(c.rope_theta, 100000.0);
  EXPECT_EQ(c.rms_norm_eps, 1e-5);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_FALSE(c.attention_bias);
  EXPECT_EQ(c.bos_token_id, 1);
  EXPECT_EQ(c.eos_token_id, 2);
  EXPECT_FALSE(m->tokenizer.is_null());

  ASSERT_EQ(m->tensors.size(), 272u);
  EXPECT_EQ(FindTensor(*m, "lm_head.weight"), nullptr);
  for (const auto& t : m->tensors) {
    EXPECT_TRUE(t.name.rfind("model.", 0) == 0) << t.name;
    const bool norm = t.name.find("norm") != std::string::npos;
    const bool embed = t.name == "model.embed_tokens.weight";
    EXPECT_EQ(t.source_type, norm ? "F32" : embed ? "Q8_0" : "Q4_1") << t.name;
  }
  const TensorSource* embed = FindTensor(*m, "model.embed_tokens.weight");
  ASSERT_NE(embed, nullptr);
  EXPECT_EQ(embed->shape, (std::vector<int64_t>{49152, 576}));
  const TensorSource* down = FindTensor(*m, "model.layers.7.mlp.down_proj.weight");
  ASSERT_NE(down, nullptr);
  EXPECT_EQ(down->shape, (std::vector<int64_t>{576, 1536}));

  // Reference values from gguf-py's dequantization of the same file (rows in GGUF order).
  auto q = FindTensor(*m, "model.layers.0.self_attn.q_proj.weight")->load();
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  EXPECT_EQ(q->shape, (std::vector<int64_t>{576, 576}));
  const float* qv = q->data.as<float>();
  // HF row 1 (head 0, first half, j=1) is GGUF row 2; HF row 33 (second half, j=1) is GGUF row 3.
  EXPECT_EQ(qv[1 * 576 + 0], -0.1591796875f);
  EXPECT_EQ(qv[1 * 576 + 1], 0.39794921875f);
  EXPECT_EQ(qv[33 * 576 + 0], -0.06280517578125f);
  EXPECT_EQ(qv[33 * 576 + 2], 0.00634765625f);
  auto k = FindTensor(*m, "model.layers.29.self_attn.k_proj.weight")->load();
  ASSERT_TRUE(k.ok());
  // HF row 101 = head 1, second half, j=5 -> GGUF row 64 + 2*5 + 1 = 75.
  EXPECT_EQ(k->data.as<float>()[101 * 576 + 0], -0.114501953125f);
  EXPECT_EQ(k->data.as<float>()[101 * 576 + 1], -0.0181884765625f);
  auto e = embed->load();
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->data.as<float>()[5 * 576 + 1], -0.03997802734375f);
  auto norm = FindTensor(*m, "model.layers.0.input_layernorm.weight")->load();
  ASSERT_TRUE(norm.ok());
  EXPECT_EQ(norm->encoding, Encoding::kF32);
  EXPECT_EQ(norm->data.as<float>()[2], -0.019775390625f);
}

TEST(IoGgufTest, GgufNamedFileWithBadMagicReportsIt) {
  ScratchDir dir;
  WriteFile(dir.File("model.gguf"), "definitely not gguf");
  auto m = ImportModel(dir.File("model.gguf"));
  ASSERT_FALSE(m.ok());
  ExpectErrorNaming(m.status(), StatusCode::kCorrupt, "bad magic");
  ExpectErrorNaming(m.status(), StatusCode::kCorrupt, dir.File("model.gguf"));
}

}  // namespace
}  // namespace llmc
