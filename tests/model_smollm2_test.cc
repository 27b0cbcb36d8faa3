// The real default model, SmolLM2-135M from its Q4_1 GGUF, against transformers on the same GGUF
// dequantized to float32 (tests/fixtures/hf_tiny/smollm2, scripts/make_hf_fixtures.py --smollm2).
// Heavier than the rest of the module: ~135M weights imported as F32.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "llmc/import.h"
#include "llmc/model.h"
#include "llmc/tokenizer.h"
#include "test_util.h"

namespace llmc {
namespace {

TEST(SmolLM2Test, TopLogitsAndNormalizerMatchTransformers) {
  const std::string gguf = testing::SmolLM2GgufPath();
  ASSERT_FALSE(gguf.empty()) << "SmolLM2 GGUF missing: run scripts/setup.sh";
  const nlohmann::json ref =
      nlohmann::json::parse(testing::ReadFile(testing::FixturesDir() + "/hf_tiny/smollm2/expected.json"));
  const auto tokens = ref.at("tokens").get<std::vector<int32_t>>();
  auto imported = ImportModel(gguf);
  ASSERT_TRUE(imported.ok()) << imported.status().ToString();
  auto model = Model::FromImported(*imported);
  ASSERT_TRUE(model.ok()) << model.status().ToString();

  // Our tokenizer reads the text the way transformers' did.
  auto tokenizer = Tokenizer::FromSpec((*model)->tokenizer_spec());
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status().ToString();
  EXPECT_EQ((*tokenizer)->Encode(ref.at("text").get<std::string>(), false), tokens);

  const size_t vocab = static_cast<size_t>((*model)->config().vocab_size);
  auto seq = (*model)->NewSequence(static_cast<int64_t>(tokens.size()), KvCacheType::kF32);
  std::vector<float> logits(tokens.size() * vocab);
  ASSERT_TRUE((*model)->Forward(*seq, tokens, logits.data(), nullptr).ok());

  double scale = 0;
  for (const auto& row : ref.at("top_logits")) scale = std::max(scale, std::fabs(row[0].get<double>()));
  for (size_t t = 0; t < tokens.size(); ++t) {
    const float* row = logits.data() + t * vocab;
    const auto ids = ref.at("top_ids")[t].get<std::vector<int64_t>>();
    const auto values = ref.at("top_logits")[t].get<std::vector<double>>();
    EXPECT_EQ(std::max_element(row, row + vocab) - row, ids[0]) << "position " << t;
    for (size_t k = 0; k < ids.size(); ++k) {
      EXPECT_NEAR(row[ids[k]], values[k], 1e-4 * scale) << "position " << t << " id " << ids[k];
    }
    const float top = *std::max_element(row, row + vocab);
    double sum = 0;
    for (size_t i = 0; i < vocab; ++i) sum += std::exp(static_cast<double>(row[i]) - top);
    EXPECT_NEAR(std::log(sum) + top, ref.at("logsumexp")[t].get<double>(), 1e-4 * scale) << "position " << t;
  }
}

}  // namespace
}  // namespace llmc
