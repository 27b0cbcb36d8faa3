// `llmc generate` end to end on a stories260K store: greedy output must be transformers' greedy
// continuation token for token (tests/fixtures/hf_tiny/stories260k, scripts/make_hf_fixtures.py).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "test_util.h"

namespace llmc {
namespace {

class GenerateCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    scratch_ = new testing::ScratchDir();
    store_ = scratch_->File("stories.parquet");
    const testing::CommandResult r =
        testing::RunLlmc("convert " + testing::Stories260KDir() + " -o " + store_ + " --dtype f32 --json");
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  static void TearDownTestSuite() {
    delete scratch_;
    scratch_ = nullptr;
  }

  static nlohmann::json GenerateJson(const std::string& args) {
    const testing::CommandResult r = testing::RunLlmc("generate " + store_ + " " + args + " --json");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return nlohmann::json::parse(r.output, nullptr, /*allow_exceptions=*/false);
  }

  static nlohmann::json Greedy() {
    const std::string path = testing::FixturesDir() + "/hf_tiny/stories260k/expected.json";
    return nlohmann::json::parse(testing::ReadFile(path)).at("greedy");
  }

  static testing::ScratchDir* scratch_;
  static std::string store_;
};

testing::ScratchDir* GenerateCliTest::scratch_ = nullptr;
std::string GenerateCliTest::store_;

TEST_F(GenerateCliTest, GreedyContinuationMatchesTransformers) {
  const nlohmann::json expected = Greedy();
  const nlohmann::json out = GenerateJson("--prompt '" + expected.at("prompt").get<std::string>() + "' -n " +
                                          std::to_string(expected.at("max_new_tokens").get<int>()));
  ASSERT_FALSE(out.is_discarded());
  EXPECT_EQ(out.at("prompt_tokens"), expected.at("prompt_tokens"));
  EXPECT_EQ(out.at("tokens"), expected.at("tokens"));
  EXPECT_EQ(out.at("text"), expected.at("text"));
  EXPECT_FALSE(out.at("stopped_at_eos").get<bool>());
  EXPECT_GT(out.at("tokens_per_second").get<double>(), 0.0);
}

// generate's default KV cache holds halves (as llama.cpp's), which move the logits by about 5e-4 of
// the largest: stories260K's greedy continuation is transformers' with either cache. An unknown cache
// type fails with one line naming the flag.
TEST_F(GenerateCliTest, EitherKvCacheKeepsTheGreedyContinuation) {
  const nlohmann::json expected = Greedy();
  const std::string args = "--prompt '" + expected.at("prompt").get<std::string>() + "' -n " +
                           std::to_string(expected.at("max_new_tokens").get<int>());
  for (const std::string kv : {"", "f16", "f32"}) {
    const nlohmann::json out = GenerateJson(args + (kv.empty() ? "" : " --kv-cache " + kv));
    ASSERT_FALSE(out.is_discarded());
    EXPECT_EQ(out.at("kv_cache"), kv.empty() ? "f16" : kv);
    EXPECT_EQ(out.at("tokens"), expected.at("tokens")) << kv;
  }
  const testing::CommandResult r = testing::RunLlmc("generate " + store_ + " --prompt hi --kv-cache f8");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--kv-cache"), std::string::npos) << r.output;
}

TEST_F(GenerateCliTest, StreamsThePromptThenTheContinuation) {
  const nlohmann::json expected = Greedy();
  const std::string prompt = expected.at("prompt").get<std::string>();
  const testing::CommandResult r = testing::RunLlmc("generate " + store_ + " --prompt '" + prompt + "' -n 24 --threads 1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find(prompt + expected.at("text").get<std::string>() + "\n"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("24 generated"), std::string::npos) << r.output;
}

TEST_F(GenerateCliTest, SamplingIsReproducibleWithItsSeed) {
  const std::string args = "--prompt 'Lily and Ben' -n 30 --temp 0.9 --top-k 40 --seed 11";
  const nlohmann::json first = GenerateJson(args);
  const nlohmann::json second = GenerateJson(args + " --threads 1");
  ASSERT_FALSE(first.is_discarded());
  ASSERT_FALSE(second.is_discarded());
  EXPECT_EQ(first.at("tokens"), second.at("tokens"));
  EXPECT_EQ(first.at("tokens").size(), 30u);
  for (const auto& id : first.at("tokens")) {
    EXPECT_GE(id.get<int>(), 0);
    EXPECT_LT(id.get<int>(), 512);
  }
}

TEST_F(GenerateCliTest, BadArgumentsAndMissingStoreFailWithOneLine) {
  testing::CommandResult r = testing::RunLlmc("generate " + store_ + " --prompt hi --temp -1");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--temp -1"), std::string::npos) << r.output;
  r = testing::RunLlmc("generate " + scratch_->File("absent.parquet") + " --prompt hi");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("absent.parquet"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace llmc
