// Perplexity, validation and the compare report, on a fake model whose logits are known exactly.
#include <gtest/gtest.h>

#include <cmath>

#include "llmc/eval.h"
#include "llmc/report.h"
#include "test_util.h"

namespace llmc {
namespace {

class FakeSequence : public Sequence {
 public:
  explicit FakeSequence(int64_t cap) : cap_(cap) {}
  int64_t length() const override { return len_; }
  int64_t capacity() const override { return cap_; }
  void Reset() override { len_ = 0; }
  int64_t len_ = 0;
  int64_t cap_;
};

// Logits: `boost` on token (previous token + 1) % vocab, 0 elsewhere. With boost 0 every
// distribution is uniform and the perplexity is exactly the vocabulary size.
class FakeModel : public Model {
 public:
  FakeModel(int64_t vocab, float boost) : boost_(boost) {
    config_.vocab_size = vocab;
    config_.hidden_size = 4;
    config_.bos_token_id = 0;
  }
  const ModelConfig& config() const override { return config_; }
  const nlohmann::json& tokenizer_spec() const override { return spec_; }
  int64_t weight_bytes() const override { return 1000; }
  std::unique_ptr<Sequence> NewSequence(int64_t capacity, KvCacheType) const override {
    return std::make_unique<FakeSequence>(capacity);
  }
  Status Forward(Sequence& seq, std::span<const int32_t> tokens, float* logits, float* hidden) override {
    const int64_t v = config_.vocab_size;
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (logits != nullptr) {
        std::fill(logits + i * v, logits + (i + 1) * v, 0.0f);
        logits[i * v + (tokens[i] + 1) % v] = boost_;
      }
      if (hidden != nullptr) {
        for (int64_t h = 0; h < 4; ++h) hidden[i * 4 + h] = static_cast<float>(tokens[i] + h + 1);
      }
    }
    static_cast<FakeSequence&>(seq).len_ += static_cast<int64_t>(tokens.size());
    return Status::OK();
  }
  void Embed(std::span<const int32_t>, float*) const override {}
  Status ForwardLayer(int64_t, float*, int64_t) override { return Status::OK(); }
  Status ForwardLayerStaged(int64_t, std::span<std::vector<float>>, const StageHook&) override { return Status::OK(); }
  void Head(const float*, int64_t, float*) const override {}
  void SetLinearInputObserver(LinearInputObserver) override {}
  std::vector<std::string> LinearWeightNames(int64_t) const override { return {}; }
  const WeightTensor& Weight(const std::string&) const override { return w_; }
  Status ReplaceWeight(WeightTensor) override { return Status::OK(); }

 private:
  ModelConfig config_;
  nlohmann::json spec_;
  WeightTensor w_;
  float boost_;
};

std::vector<int32_t> CountingTokens(int n, int vocab) {
  std::vector<int32_t> t(n);
  for (int i = 0; i < n; ++i) t[i] = i % vocab;
  return t;
}

TEST(PerplexityTest, UniformLogitsGiveVocabularySize) {
  FakeModel model(50, 0.0f);
  PerplexityOptions opts;
  opts.ctx = 16;
  auto r = ComputePerplexity(model, CountingTokens(70, 50), opts);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_NEAR(r->perplexity, 50.0, 1e-9);
  EXPECT_EQ(r->chunks, 4);                   // 70 tokens → 4 full windows of 16, tail dropped
  EXPECT_EQ(r->tokens_scored, 4 * (16 - 1 - 8));  // positions 8..14 predict 9..15
  EXPECT_NEAR(r->perplexity_stderr, 0.0, 1e-9);
}

TEST(PerplexityTest, ScoresOnlyTheSecondHalfWithTheRightTargets) {
  // The fake predicts "previous + 1" with a large boost; counting tokens always follow that rule,
  // so the perplexity is exp(log(1 + (V-1)e^-b)), independent of the window.
  const float b = 5.0f;
  FakeModel model(20, b);
  PerplexityOptions opts;
  opts.ctx = 8;
  opts.max_chunks = 2;
  auto r = ComputePerplexity(model, CountingTokens(40, 20), opts);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->chunks, 2);
  EXPECT_NEAR(r->perplexity, 1.0 + 19.0 * std::exp(-b), 1e-9);
}

TEST(PerplexityTest, BosReplacesTheFirstTokenOfEachWindow) {
  FakeModel model(20, 5.0f);
  PerplexityOptions opts;
  opts.ctx = 4;  // scored: logits at position 2 predict token 3 — BOS at 0 does not change that
  opts.add_bos = true;
  auto with_bos = ComputePerplexity(model, CountingTokens(8, 20), opts);
  ASSERT_TRUE(with_bos.ok());
  EXPECT_NE(with_bos->method.find("BOS"), std::string::npos);
  EXPECT_NEAR(with_bos->perplexity, 1.0 + 19.0 * std::exp(-5.0), 1e-9);
}

TEST(PerplexityTest, RejectsEmptyAndShortTexts) {
  FakeModel model(50, 0.0f);
  PerplexityOptions opts;
  opts.ctx = 16;
  EXPECT_EQ(ComputePerplexity(model, {}, opts).status().code(), StatusCode::kInvalidArgument);
  auto short_text = ComputePerplexity(model, CountingTokens(10, 50), opts);
  ASSERT_FALSE(short_text.ok());
  EXPECT_NE(short_text.status().message().find("shorter than one window"), std::string::npos);
}

TEST(ValidateTest, IdenticalModelsAgreeCompletely) {
  FakeModel a(30, 3.0f), b(30, 3.0f);
  PerplexityOptions opts;
  opts.ctx = 8;
  auto v = ValidateModels(a, b, CountingTokens(32, 30), opts, {});
  ASSERT_TRUE(v.ok());
  EXPECT_NEAR(v->logits_cosine, 1.0, 1e-12);
  EXPECT_NEAR(v->hidden_cosine, 1.0, 1e-12);
  EXPECT_NEAR(v->kl_divergence, 0.0, 1e-12);
  EXPECT_DOUBLE_EQ(v->top1_agreement, 1.0);
  EXPECT_NEAR(v->ppl_increase_pct, 0.0, 1e-9);
  EXPECT_TRUE(v->passed);
}

TEST(ValidateTest, UniformCandidateFailsWithKnownKl) {
  const float b = 2.0f;
  FakeModel ref(10, b), cand(10, 0.0f);
  PerplexityOptions opts;
  opts.ctx = 8;
  auto v = ValidateModels(ref, cand, CountingTokens(16, 10), opts, {});
  ASSERT_TRUE(v.ok());
  // p = softmax with one logit b; q uniform: KL = sum p log(p / (1/V)) = log V - H(p).
  const double z = std::exp(b) + 9.0;
  const double p1 = std::exp(b) / z, p0 = 1.0 / z;
  const double kl = p1 * std::log(p1 * 10) + 9 * p0 * std::log(p0 * 10);
  EXPECT_NEAR(v->kl_divergence, kl, 1e-7);  // float logits, double sums
  EXPECT_NEAR(v->candidate.perplexity, 10.0, 1e-9);
  EXPECT_NEAR(v->ppl_increase_pct, 100.0 * (10.0 / (z / std::exp(b)) - 1.0), 1e-4);
  EXPECT_FALSE(v->passed);
}

TEST(CompareReportTest, WritesMarkdownJsonAndSvg) {
  CompareReport rep;
  rep.model = "m";
  rep.reference_perplexity = 10;
  rep.reference_bytes = 2'000'000;
  CompareRow a;
  a.backend = "ptq-int2";
  a.bits_per_weight = 2.19;
  a.perplexity = 300;
  CompareRow b;
  b.backend = "gptq-2bit";
  b.bits_per_weight = 2.25;
  b.perplexity = 14;
  b.passed = true;
  rep.rows = {a, b};
  testing::ScratchDir dir;
  ASSERT_TRUE(WriteCompareReport(rep, dir.path()).ok());
  const std::string md = testing::ReadFile(dir.File("report.md"));
  EXPECT_NE(md.find("| ptq-int2 |"), std::string::npos);
  EXPECT_NE(md.find("| gptq-2bit |"), std::string::npos);
  const auto j = nlohmann::json::parse(testing::ReadFile(dir.File("report.json")));
  EXPECT_EQ(j["backends"].size(), 2u);
  EXPECT_EQ(j["backends"][1]["backend"], "gptq-2bit");
  const std::string svg = testing::ReadFile(dir.File("plot.svg"));
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  size_t circles = 0;
  for (size_t p = svg.find("<circle"); p != std::string::npos; p = svg.find("<circle", p + 1)) ++circles;
  EXPECT_EQ(circles, 2u);
  EXPECT_FALSE(WriteCompareReport(rep, dir.File("missing")).ok());
}

}  // namespace
}  // namespace llmc
