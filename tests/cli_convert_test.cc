// `llmc convert` end to end: HF safetensors (F32, F16, BF16) into V1 stores that reproduce the source
// bit for bit, and bad sources that fail with one line naming the file and leave no output behind.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "llmc/file.h"
#include "llmc/import.h"
#include "llmc/store.h"
#include "test_util.h"

namespace llmc {
namespace {

namespace fs = std::filesystem;
using testing::RunLlmc;
using testing::ScratchDir;

bool SameBytes(const Bytes& a, const Bytes& b) {
  return a.size() == b.size() && (a.size() == 0 || std::memcmp(a.data(), b.data(), a.size()) == 0);
}

// Every tensor the loader returns equals what `expected(name)` gives, byte for byte.
template <typename Expected>
void ExpectStoreHolds(const std::string& store, const ImportedModel& source, Encoding encoding, Expected expected) {
  auto loader = WeightLoaderV2::Open(store);
  ASSERT_TRUE(loader.ok()) << loader.status().ToString();
  ASSERT_EQ((*loader)->tensors().size(), source.tensors.size());
  for (const TensorSource& src : source.tensors) {
    auto got = (*loader)->Load(src.name);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    auto want = src.load();
    ASSERT_TRUE(want.ok()) << want.status().ToString();
    EXPECT_EQ(got->encoding, encoding) << src.name;
    EXPECT_EQ(got->shape, want->shape) << src.name;
    EXPECT_TRUE(SameBytes(got->data, expected(*want).data)) << src.name;
  }
}

// A copy of stories260K whose model.safetensors holds every tensor as `dtype` (written here, so the
// test does not depend on the store to make its own input).
std::string Stories260KAs(const ScratchDir& dir, DType dtype) {
  const std::string out = dir.File(std::string("stories_") + DTypeName(dtype));
  fs::create_directory(out);
  for (const auto& entry : fs::directory_iterator(testing::Stories260KDir())) {
    if (entry.is_regular_file() && entry.path().filename() != "model.safetensors") {
      fs::copy_file(entry.path(), fs::path(out) / entry.path().filename());
    }
  }
  auto model = ImportModel(testing::Stories260KDir());
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  nlohmann::json header = nlohmann::json::object();
  std::string body;
  const char* st_dtype = dtype == DType::kF32 ? "F32" : dtype == DType::kF16 ? "F16" : "BF16";
  for (const TensorSource& src : model->tensors) {
    const WeightTensor t = ToDense(*src.load(), dtype);
    header[src.name] = {{"dtype", st_dtype}, {"shape", t.shape}, {"data_offsets", {body.size(), body.size() + t.data.size()}}};
    body.append(reinterpret_cast<const char*>(t.data.data()), t.data.size());
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::string file(8, '\0');
  const uint64_t n = text.size();
  std::memcpy(file.data(), &n, 8);
  testing::WriteFile(out + "/model.safetensors", file + text + body);
  return out;
}

TEST(CliConvertTest, Stories260KF32IsBitIdenticalWithMetadata) {
  ScratchDir dir;
  const std::string store = dir.File("s.parquet");
  const auto r = RunLlmc("convert " + testing::Stories260KDir() + " -o " + store + " --dtype f32 --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto summary = nlohmann::json::parse(r.output);
  EXPECT_EQ(summary["tensors"], 47);
  auto source = ImportModel(testing::Stories260KDir());
  ASSERT_TRUE(source.ok());
  ExpectStoreHolds(store, *source, Encoding::kF32, [](const WeightTensor& w) { return w; });
  auto loader = WeightLoaderV2::Open(store);
  ASSERT_TRUE(loader.ok());
  const StoreMetadata& meta = (*loader)->metadata();
  EXPECT_EQ(meta.format_version, kStoreFormatV1);
  EXPECT_EQ(meta.config.ToJson(), source->config.ToJson());
  EXPECT_EQ(meta.tokenizer, source->tokenizer);
  EXPECT_EQ(meta.extra["source_format"], "safetensors");
  EXPECT_EQ(meta.extra["dtype"], "f32");
  EXPECT_EQ(meta.extra["source"], source->source_path);
}

TEST(CliConvertTest, DefaultDTypeIsF16RoundedToNearestEven) {
  ScratchDir dir;
  const std::string store = dir.File("s.parquet");
  const auto r = RunLlmc("convert " + testing::Stories260KDir() + " -o " + store);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto source = ImportModel(testing::Stories260KDir());
  ASSERT_TRUE(source.ok());
  ExpectStoreHolds(store, *source, Encoding::kF16, [](const WeightTensor& w) { return ToDense(w, DType::kF16); });
}

class CliConvertDTypeTest : public ::testing::TestWithParam<DType> {};

TEST_P(CliConvertDTypeTest, SourceInStoreDTypeIsCopiedBitForBit) {
  const DType dtype = GetParam();
  ScratchDir dir;
  const std::string src_dir = Stories260KAs(dir, dtype);
  const std::string store = dir.File("s.parquet");
  const auto r = RunLlmc("convert " + src_dir + " -o " + store + " --dtype " + DTypeName(dtype));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto source = ImportModel(src_dir);
  ASSERT_TRUE(source.ok()) << source.status().ToString();
  ASSERT_EQ(source->tensors.at(0).source_type, dtype == DType::kF16 ? "F16" : "BF16");
  ExpectStoreHolds(store, *source, EncodingOf(dtype), [](const WeightTensor& w) { return w; });
}

INSTANTIATE_TEST_SUITE_P(CliConvert, CliConvertDTypeTest, ::testing::Values(DType::kF16, DType::kBF16),
                         [](const auto& info) { return std::string(DTypeName(info.param)); });

// A failed convert prints one line naming `named`, exits non-zero and leaves nothing in `out_dir`.
void ExpectCleanFailure(const std::string& source, const std::string& named) {
  ScratchDir out_dir;
  const std::string out = out_dir.File("out.parquet");
  const auto r = RunLlmc("convert " + source + " -o " + out);
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_LT(r.exit_code, 128) << "crashed: " << r.output;
  EXPECT_NE(r.output.find(named), std::string::npos) << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  EXPECT_FALSE(FileExists(out));
  EXPECT_TRUE(fs::is_empty(out_dir.path())) << "temporary file left behind";
}

std::string CopyOfStories(const ScratchDir& dir) {
  const std::string copy = dir.File("stories");
  fs::copy(testing::Stories260KDir(), copy, fs::copy_options::recursive);
  return copy;
}

TEST(CliConvertBadInputTest, TruncatedSafetensors) {
  ScratchDir dir;
  const std::string src = CopyOfStories(dir);
  const std::string st = src + "/model.safetensors";
  fs::resize_file(st, fs::file_size(st) / 2);
  ExpectCleanFailure(src, "model.safetensors");
}

TEST(CliConvertBadInputTest, SafetensorsHeaderLengthPastEnd) {
  ScratchDir dir;
  const std::string src = CopyOfStories(dir);
  const std::string st = src + "/model.safetensors";
  std::string bytes = testing::ReadFile(st);
  const uint64_t huge = bytes.size() + 1000;
  std::memcpy(bytes.data(), &huge, 8);
  testing::WriteFile(st, bytes);
  ExpectCleanFailure(src, "model.safetensors");
}

TEST(CliConvertBadInputTest, MissingConfigJson) {
  ScratchDir dir;
  const std::string src = CopyOfStories(dir);
  fs::remove(src + "/config.json");
  ExpectCleanFailure(src, "config.json");
}

TEST(CliConvertBadInputTest, BadGgufMagic) {
  ScratchDir dir;
  const std::string gguf = dir.File("model.gguf");
  testing::WriteFile(gguf, std::string("GGUX") + std::string(60, '\0'));
  ExpectCleanFailure(gguf, "model.gguf");
}

}  // namespace
}  // namespace llmc
