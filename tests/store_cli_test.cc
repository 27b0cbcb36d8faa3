// The store seen from outside: `llmc inspect` on good and broken files, pyarrow reading what llmc
// wrote (scripts/check_store_pyarrow.py), and the peak memory of loading SmolLM2 whole.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <random>

#include "llmc/file.h"
#include "llmc/import.h"
#include "llmc/store.h"
#include "test_util.h"

namespace llmc {
namespace {

using testing::RunLlmc;
using testing::ScratchDir;

std::string ConvertStories(const ScratchDir& dir, const std::string& flags = "--dtype f16") {
  const std::string store = dir.File("stories.parquet");
  const auto r = RunLlmc("convert " + testing::Stories260KDir() + " -o " + store + " " + flags);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return store;
}

// Offset of the Parquet footer (FileMetaData) and its length, from the 8-byte trailer.
std::pair<size_t, size_t> Footer(const std::string& bytes) {
  uint32_t len = 0;
  std::memcpy(&len, bytes.data() + bytes.size() - 8, 4);
  return {bytes.size() - 8 - len, len};
}

// Replaces the first `from` that follows `after` in the file (same length, so the footer stays parseable).
std::string Patched(std::string bytes, const std::string& after, const std::string& from, const std::string& to) {
  const size_t key = bytes.find(after);
  EXPECT_NE(key, std::string::npos);
  const size_t at = bytes.find(from, key + after.size());
  EXPECT_NE(at, std::string::npos);
  bytes.replace(at, from.size(), to);
  return bytes;
}

// `llmc inspect` fails with exit code 1 and one line containing every string of `expect`.
void ExpectInspectFails(const std::string& args, const std::vector<std::string>& expect) {
  const auto r = RunLlmc("inspect " + args);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  for (const auto& s : expect) EXPECT_NE(r.output.find(s), std::string::npos) << "missing '" << s << "': " << r.output;
}

TEST(StoreCliTest, InspectReportsSizesAndBitsPerWeight) {
  ScratchDir dir;
  const std::string store = ConvertStories(dir);
  const auto r = RunLlmc("inspect " + store + " --json --tensors");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  auto source = ImportModel(testing::Stories260KDir());
  ASSERT_TRUE(source.ok());
  int64_t params = 0;
  for (const auto& t : source->tensors) {
    int64_t n = 1;
    for (int64_t d : t.shape) n *= d;
    params += n;
  }
  EXPECT_EQ(j["format_version"], "1.0");
  EXPECT_EQ(j["architecture"], "llama");
  EXPECT_EQ(j["tensors"], source->tensors.size());
  EXPECT_EQ(j["parameters"], params);
  EXPECT_EQ(j["stored_bytes"], params * 2);
  EXPECT_DOUBLE_EQ(j["bits_per_weight"].get<double>(), 16.0);
  EXPECT_DOUBLE_EQ(j["ratio_vs_fp16"].get<double>(), 1.0);
  EXPECT_EQ(j["file_bytes"], *FileSize(store));
  ASSERT_EQ(j["tensor_list"].size(), source->tensors.size());
  EXPECT_EQ(j["tensor_list"][0]["type"], "f16");
}

TEST(StoreCliTest, InspectCountsScalesInBitsPerWeight) {
  ScratchDir dir;
  StoreMetadata meta;
  meta.config.hidden_size = 256;
  meta.config.intermediate_size = 512;
  meta.config.num_layers = 1;
  meta.config.num_heads = 4;
  meta.config.num_kv_heads = 4;
  meta.config.head_dim = 64;
  meta.config.vocab_size = 32;
  meta.config.max_position = 64;
  WeightTensor q;
  q.name = "model.layers.0.mlp.up_proj.weight";
  q.shape = {4, 256};
  q.encoding = Encoding::kQuantized;
  q.quant = {2, 64, QuantGrid::kAsymmetric};
  q.data = Bytes::Own(std::vector<uint8_t>(q.expected_data_bytes(), 0x1b));
  q.scales = Bytes::Own(std::vector<uint8_t>(q.expected_scale_bytes(), 0x3c));
  q.zero_points = Bytes::Own(std::vector<uint8_t>(q.expected_zero_bytes(), 1));
  const WeightTensor norm = MakeF32Tensor("model.norm.weight", {256}, std::vector<float>(256, 1.0f));
  {
    auto w = StoreWriter::Open(dir.File("q.parquet"), meta);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    ASSERT_TRUE((*w)->Write(q).ok());
    ASSERT_TRUE((*w)->Write(norm).ok());
    ASSERT_TRUE((*w)->Close().ok());
  }
  const auto r = RunLlmc("inspect " + dir.File("q.parquet") + " --json --verify");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  // int2 tensor: 4 × (64 code bytes + 4 groups × 3 bytes) = 304 bytes; norm: 1024 bytes; 1280 weights.
  EXPECT_EQ(j["stored_bytes"], 304 + 1024);
  EXPECT_NEAR(j["bits_per_weight"].get<double>(), 8.0 * 1328 / 1280, 1e-12);
  EXPECT_NEAR(j["ratio_vs_fp16"].get<double>(), 16.0 / (8.0 * 1328 / 1280), 1e-12);
  EXPECT_EQ(j["verify"]["tensors_loaded"], 2);
  // pyarrow reads the V2 file the same way.
  const auto py = testing::RunCommand(testing::VenvPython() + " " + testing::SourceDir() +
                                      "/scripts/check_store_pyarrow.py " + dir.File("q.parquet"));
  EXPECT_EQ(py.exit_code, 0) << py.output;
}

TEST(StoreCliTest, PyarrowReadsTheDocumentedFormat) {
  ScratchDir dir;
  const std::string store = ConvertStories(dir, "--dtype f32");
  const std::string script = testing::SourceDir() + "/scripts/check_store_pyarrow.py ";
  const std::string source = " --safetensors " + testing::Stories260KDir() + "/model.safetensors";
  auto r = testing::RunCommand(testing::VenvPython() + " " + script + store + source);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  // The script is a real check: a store whose checksum no longer matches fails it.
  std::string bytes = testing::ReadFile(store);
  const size_t at = Footer(bytes).first / 2;  // inside some tensor's values
  bytes[at] ^= 0x40;
  testing::WriteFile(dir.File("bad.parquet"), bytes);
  r = testing::RunCommand(testing::VenvPython() + " " + script + dir.File("bad.parquet"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
}

TEST(StoreCliTest, PyarrowReadsZstdStore) {
  ScratchDir dir;
  const std::string store = ConvertStories(dir, "--dtype f16 --compression zstd");
  const auto r = testing::RunCommand(testing::VenvPython() + " " + testing::SourceDir() +
                                     "/scripts/check_store_pyarrow.py --compression zstd " + store +
                                     " --safetensors " + testing::Stories260KDir() + "/model.safetensors");
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

TEST(StoreCliBadInputTest, CorruptedFooter) {
  ScratchDir dir;
  std::string bytes = testing::ReadFile(ConvertStories(dir));
  const auto [start, len] = Footer(bytes);
  for (size_t i = start; i < start + 32; ++i) bytes[i] = static_cast<char>(~bytes[i]);
  testing::WriteFile(dir.File("bad.parquet"), bytes);
  ExpectInspectFails(dir.File("bad.parquet"), {dir.File("bad.parquet"), "corrupt"});
}

TEST(StoreCliBadInputTest, FooterBitFlipsNeverCrash) {
  ScratchDir dir;
  const std::string good = testing::ReadFile(ConvertStories(dir));
  const auto [start, len] = Footer(good);
  std::mt19937 rng(7);
  for (int trial = 0; trial < 40; ++trial) {
    std::string bytes = good;
    const size_t at = start + rng() % len;
    bytes[at] = static_cast<char>(bytes[at] ^ (1 << (rng() % 8)));
    testing::WriteFile(dir.File("flip.parquet"), bytes);
    const auto r = RunLlmc("inspect --verify " + dir.File("flip.parquet"));
    // A flip may land in a value that is still valid (a tokenizer string); it must never crash.
    EXPECT_TRUE(r.exit_code == 0 || r.exit_code == 1) << "byte " << at << ": " << r.output;
  }
}

TEST(StoreCliBadInputTest, TruncatedStore) {
  ScratchDir dir;
  const std::string bytes = testing::ReadFile(ConvertStories(dir));
  testing::WriteFile(dir.File("half.parquet"), bytes.substr(0, bytes.size() / 2));
  ExpectInspectFails(dir.File("half.parquet"), {dir.File("half.parquet")});
  testing::WriteFile(dir.File("tail.parquet"), bytes.substr(0, bytes.size() - 3));
  ExpectInspectFails(dir.File("tail.parquet"), {dir.File("tail.parquet")});
}

TEST(StoreCliBadInputTest, UnknownMajorVersionIsRefused) {
  ScratchDir dir;
  const std::string bytes = testing::ReadFile(ConvertStories(dir));
  testing::WriteFile(dir.File("v3.parquet"), Patched(bytes, "llmc.format_version", "1.0", "3.0"));
  ExpectInspectFails(dir.File("v3.parquet"), {dir.File("v3.parquet"), "expected format version 1.x or 2.x, found 3.0"});
}

TEST(StoreCliBadInputTest, ParquetWithoutFormatKeyIsNotAStore) {
  ScratchDir dir;
  const std::string bytes = testing::ReadFile(ConvertStories(dir));
  // Rename the key "llmc.format" (not "llmc.format_version") so the file lacks it.
  std::string renamed = bytes;
  for (size_t at = renamed.find("llmc.format"); at != std::string::npos; at = renamed.find("llmc.format", at + 1)) {
    if (renamed[at + 11] != '_') renamed[at + 10] = 'X';
  }
  testing::WriteFile(dir.File("plain.parquet"), renamed);
  ExpectInspectFails(dir.File("plain.parquet"), {dir.File("plain.parquet"), "not an llmc weight store"});
}

TEST(StoreCliBadInputTest, NotParquetAtAll) {
  ExpectInspectFails(testing::Stories260KDir() + "/model.safetensors", {"model.safetensors", "not a readable Parquet"});
  ExpectInspectFails("/nonexistent/store.parquet", {"/nonexistent/store.parquet"});
}

TEST(StoreCliBadInputTest, MissingTensorIsNamed) {
  ScratchDir dir;
  ExpectInspectFails(ConvertStories(dir) + " --tensor model.layers.9.mlp.up_proj.weight",
                     {"model.layers.9.mlp.up_proj.weight", "not found"});
}

TEST(StoreCliBadInputTest, FlippedWeightByteFailsVerifyNamingTensor) {
  ScratchDir dir;
  const std::string store = ConvertStories(dir);
  auto loader = WeightLoaderV2::Open(store);
  ASSERT_TRUE(loader.ok());
  const auto emb = (*loader)->Load("model.embed_tokens.weight");
  ASSERT_TRUE(emb.ok());
  std::string bytes = testing::ReadFile(store);
  // Find the embedding's first 64 bytes in the file and flip one byte after them.
  const size_t at = bytes.find(std::string(reinterpret_cast<const char*>(emb->data.data()), 64));
  ASSERT_NE(at, std::string::npos);
  bytes[at + 1000] ^= 0x10;
  testing::WriteFile(dir.File("flipped.parquet"), bytes);
  ExpectInspectFails(dir.File("flipped.parquet") + " --verify",
                     {dir.File("flipped.parquet"), "model.embed_tokens.weight", "checksum"});
}

// Heavier (about 10-20 s): the real model, GGUF -> V1 f16 -> every tensor loaded and held at once.
TEST(StoreCliTest, SmolLM2LoadPeakMemoryWithinBudget) {
  const std::string gguf = testing::SmolLM2GgufPath();
  ASSERT_FALSE(gguf.empty()) << "SmolLM2 GGUF not installed: run scripts/setup.sh";
  ScratchDir dir;
  const std::string store = dir.File("smol.parquet");
  auto r = RunLlmc("convert " + gguf + " -o " + store + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(nlohmann::json::parse(r.output)["tensors"], 272);
  r = RunLlmc("inspect " + store + " --verify --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["verify"]["tensors_loaded"], 272);
  const double file_bytes = j["file_bytes"].get<double>();
  const double peak = j["verify"]["peak_rss_bytes"].get<double>();
  EXPECT_GT(peak, file_bytes);  // every tensor really is resident
  EXPECT_LE(peak, 1.3 * file_bytes) << "peak RSS " << peak / 1e6 << " MB for a " << file_bytes / 1e6 << " MB store";
}

}  // namespace
}  // namespace llmc
