// The engine against HuggingFace transformers: logits of tiny random models of every architecture
// and of the real stories260K, all produced by scripts/make_hf_fixtures.py (tests/fixtures/hf_tiny).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "llmc/import.h"
#include "llmc/model.h"
#include "test_util.h"

namespace llmc {
namespace {

struct Reference {
  std::vector<int32_t> tokens;
  std::vector<float> logits;  // [tokens][vocab]
  int64_t vocab = 0;
  nlohmann::json meta;
};

std::string FixtureDir(const std::string& name) { return testing::FixturesDir() + "/hf_tiny/" + name; }

Reference LoadReference(const std::string& name) {
  Reference r;
  r.meta = nlohmann::json::parse(testing::ReadFile(FixtureDir(name) + "/expected.json"));
  r.tokens = r.meta.at("tokens").get<std::vector<int32_t>>();
  r.vocab = r.meta.at("logits_shape").at(1).get<int64_t>();
  const std::string bytes = testing::ReadFile(FixtureDir(name) + "/" + r.meta.at("logits_file").get<std::string>());
  r.logits.resize(bytes.size() / sizeof(float));
  std::memcpy(r.logits.data(), bytes.data(), r.logits.size() * sizeof(float));
  return r;
}

Result<std::unique_ptr<Model>> OpenHf(const std::string& dir) {
  LLMC_ASSIGN_OR_RETURN(ImportedModel imported, ImportModel(dir));
  return Model::FromImported(imported);
}

// max |a - b| / max |b|: the tolerance measure for logits.
double RelativeMaxDiff(const std::vector<float>& a, const std::vector<float>& b) {
  double diff = 0;
  double scale = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    diff = std::max(diff, std::fabs(static_cast<double>(a[i]) - b[i]));
    scale = std::max(scale, std::fabs(static_cast<double>(b[i])));
  }
  return diff / scale;
}

std::vector<float> RunAll(Model& model, const std::vector<int32_t>& tokens, KvCacheType kv = KvCacheType::kF32) {
  auto seq = model.NewSequence(static_cast<int64_t>(tokens.size()), kv);
  std::vector<float> logits(tokens.size() * static_cast<size_t>(model.config().vocab_size));
  const Status st = model.Forward(*seq, tokens, logits.data(), nullptr);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return logits;
}

class HfTinyTest : public ::testing::TestWithParam<std::string> {};

TEST_P(HfTinyTest, LogitsMatchTransformers) {
  const Reference ref = LoadReference(GetParam());
  auto model = OpenHf(FixtureDir(GetParam()));
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  ASSERT_EQ((*model)->config().vocab_size, ref.vocab);
  const std::vector<float> logits = RunAll(**model, ref.tokens);
  EXPECT_LT(RelativeMaxDiff(logits, ref.logits), 1e-4);
}

// A half-precision cache rounds every cached key and value to 11 significant bits: the logits move
// by about that much (4.7e-4 to 6.3e-4 of the largest logit on these models), far less than any
// weight quantization moves them.
TEST_P(HfTinyTest, HalfKvCacheStaysCloseToTransformers) {
  const Reference ref = LoadReference(GetParam());
  auto model = OpenHf(FixtureDir(GetParam()));
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  const std::vector<float> half = RunAll(**model, ref.tokens, KvCacheType::kF16);
  EXPECT_LT(RelativeMaxDiff(half, ref.logits), 2e-3);
  EXPECT_NE(half, RunAll(**model, ref.tokens, KvCacheType::kF32));  // the cache really holds halves
}

// Both cache types: prefill and decode differ only in summation order. In a half cache such a last-bit
// difference in a key or value can round it to the neighbouring half (5e-4 apart), hence the looser
// bound there.
TEST_P(HfTinyTest, TokenByTokenDecodeMatchesBatchedPrefill) {
  const Reference ref = LoadReference(GetParam());
  auto model = OpenHf(FixtureDir(GetParam()));
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  for (const KvCacheType kv : {KvCacheType::kF32, KvCacheType::kF16}) {
    SCOPED_TRACE(kv == KvCacheType::kF16 ? "f16 cache" : "f32 cache");
    const std::vector<float> batched = RunAll(**model, ref.tokens, kv);
    // A prefill of the first third, then one token at a time through the KV cache.
    auto seq = (*model)->NewSequence(static_cast<int64_t>(ref.tokens.size()), kv);
    std::vector<float> stepwise(batched.size());
    const size_t prefill = ref.tokens.size() / 3;
    const std::span<const int32_t> tokens(ref.tokens);
    ASSERT_TRUE((*model)->Forward(*seq, tokens.first(prefill), stepwise.data(), nullptr).ok());
    for (size_t t = prefill; t < tokens.size(); ++t) {
      ASSERT_TRUE((*model)->Forward(*seq, tokens.subspan(t, 1), stepwise.data() + t * ref.vocab, nullptr).ok());
    }
    EXPECT_EQ(seq->length(), static_cast<int64_t>(tokens.size()));
    EXPECT_LT(RelativeMaxDiff(stepwise, batched), kv == KvCacheType::kF16 ? 1e-4 : 1e-5);
  }
}

TEST_P(HfTinyTest, LayerByLayerMatchesForward) {
  const Reference ref = LoadReference(GetParam());
  auto model = OpenHf(FixtureDir(GetParam()));
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  Model& m = **model;
  const auto n = static_cast<int64_t>(ref.tokens.size());
  std::vector<float> hidden(static_cast<size_t>(n * m.config().hidden_size));
  m.Embed(ref.tokens, hidden.data());
  for (int64_t l = 0; l < m.config().num_layers; ++l) ASSERT_TRUE(m.ForwardLayer(l, hidden.data(), n).ok());
  std::vector<float> logits(ref.logits.size());
  m.Head(hidden.data(), n, logits.data());
  EXPECT_LT(RelativeMaxDiff(logits, RunAll(m, ref.tokens)), 1e-6);
  EXPECT_LT(RelativeMaxDiff(logits, ref.logits), 1e-4);
}

INSTANTIATE_TEST_SUITE_P(Architectures, HfTinyTest,
                         ::testing::Values("llama3_rope", "llama_linear_rope", "mistral_sliding", "qwen2_bias",
                                           "qwen3_qknorm"));

// The fixture's window (8) is shorter than its 24 tokens: without it the late positions change.
TEST(HfTinyWindowTest, SlidingWindowChangesLatePositions) {
  const Reference ref = LoadReference("mistral_sliding");
  auto imported = ImportModel(FixtureDir("mistral_sliding"));
  ASSERT_TRUE(imported.ok()) << imported.status().ToString();
  ASSERT_EQ(imported->config.sliding_window, 8);
  imported->config.sliding_window = 0;
  auto full_attention = Model::FromImported(*imported);
  ASSERT_TRUE(full_attention.ok()) << full_attention.status().ToString();
  const std::vector<float> logits = RunAll(**full_attention, ref.tokens);
  const size_t row = static_cast<size_t>(ref.vocab);
  // Positions inside the window see every earlier token either way.
  const std::vector<float> early(logits.begin(), logits.begin() + 8 * row);
  const std::vector<float> early_ref(ref.logits.begin(), ref.logits.begin() + 8 * row);
  EXPECT_LT(RelativeMaxDiff(early, early_ref), 1e-4);
  EXPECT_GT(RelativeMaxDiff(logits, ref.logits), 1e-2);
}

// The scaled-RoPE fixtures run positions where scaling changes the angles: plain RoPE must miss.
TEST(HfTinyRopeTest, RopeScalingChangesTheLogits) {
  for (const char* name : {"llama3_rope", "llama_linear_rope"}) {
    const Reference ref = LoadReference(name);
    auto imported = ImportModel(FixtureDir(name));
    ASSERT_TRUE(imported.ok()) << imported.status().ToString();
    ASSERT_NE(imported->config.rope_scaling.type, "none") << name;
    imported->config.rope_scaling.type = "none";
    auto unscaled = Model::FromImported(*imported);
    ASSERT_TRUE(unscaled.ok()) << unscaled.status().ToString();
    EXPECT_GT(RelativeMaxDiff(RunAll(**unscaled, ref.tokens), ref.logits), 1e-2) << name;
  }
}

TEST(Stories260KTest, LogitsMatchTransformersOnTinyStoriesSentence) {
  const Reference ref = LoadReference("stories260k");
  auto model = OpenHf(testing::Stories260KDir());
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  const std::vector<float> logits = RunAll(**model, ref.tokens);
  EXPECT_LT(RelativeMaxDiff(logits, ref.logits), 1e-4);
}

// Next-token predictions: same argmax as transformers everywhere, and a mean NLL far below the
// uniform log(512) that an unrelated model would score.
TEST(Stories260KTest, PredictsTheSentenceLikeTransformers) {
  const Reference ref = LoadReference("stories260k");
  auto model = OpenHf(testing::Stories260KDir());
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  const std::vector<float> logits = RunAll(**model, ref.tokens);
  const size_t vocab = static_cast<size_t>(ref.vocab);
  double nll = 0;
  double nll_ref = 0;
  auto token_nll = [&](const std::vector<float>& l, size_t t) {
    const float* row = l.data() + t * vocab;
    const float top = *std::max_element(row, row + vocab);
    double sum = 0;
    for (size_t i = 0; i < vocab; ++i) sum += std::exp(static_cast<double>(row[i]) - top);
    return std::log(sum) + top - row[ref.tokens[t + 1]];
  };
  for (size_t t = 0; t + 1 < ref.tokens.size(); ++t) {
    const float* row = logits.data() + t * vocab;
    const float* ref_row = ref.logits.data() + t * vocab;
    EXPECT_EQ(std::max_element(row, row + vocab) - row, std::max_element(ref_row, ref_row + vocab) - ref_row)
        << "position " << t;
    nll += token_nll(logits, t);
    nll_ref += token_nll(ref.logits, t);
  }
  const double scored = static_cast<double>(ref.tokens.size() - 1);
  EXPECT_NEAR(nll / scored, nll_ref / scored, 1e-4);
  EXPECT_LT(nll / scored, 0.5 * std::log(512.0));
}

}  // namespace
}  // namespace llmc
