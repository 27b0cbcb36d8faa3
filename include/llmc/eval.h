// Measuring what quantization cost: perplexity, and a reference-vs-candidate validator (PPL increase,
// cosine of logits and hidden states, KL divergence, top-1 agreement) with pass/fail thresholds.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "llmc/model.h"

namespace llmc {

struct PerplexityOptions {
  int64_t ctx = 512;        // window length in tokens
  int64_t max_chunks = 0;   // 0: every full window of the text
  bool add_bos = false;     // replace each window's first token by BOS (models whose tokenizer adds one)
  // Score through the decode kernels: each window's first half is one batched prefill, its scored half
  // is fed one token at a time (same windows, same scored tokens, GEMV instead of GEMM logits).
  bool decode = false;
  KvCacheType kv_cache = KvCacheType::kF32;  // both models' caches, in ValidateModels
};

struct PerplexityResult {
  double perplexity = 0;
  double perplexity_stderr = 0;  // ± from the per-token NLL spread
  double mean_nll = 0;
  int64_t tokens_scored = 0;
  int64_t chunks = 0;
  std::string method;  // window, stride and which tokens are scored, in words
  nlohmann::json ToJson() const;
};

Result<PerplexityResult> ComputePerplexity(Model& model, const std::vector<int32_t>& tokens,
                                           const PerplexityOptions& opts);

struct ValidationThresholds {
  double min_cosine = 0.95;
  double max_ppl_increase_pct = 8.0;
};

struct ValidationResult {
  PerplexityResult reference;
  PerplexityResult candidate;
  double ppl_increase_pct = 0;
  double logits_cosine = 0;   // mean over scored tokens
  double hidden_cosine = 0;   // mean over scored tokens, final-normed hidden states
  double kl_divergence = 0;   // mean KL(reference || candidate) over scored tokens, nats
  double top1_agreement = 0;  // fraction of scored tokens where argmax agrees
  bool passed = false;
  ValidationThresholds thresholds;
  nlohmann::json ToJson() const;
};

Result<ValidationResult> ValidateModels(Model& reference, Model& candidate, const std::vector<int32_t>& tokens,
                                        const PerplexityOptions& opts, const ValidationThresholds& thresholds);

}  // namespace llmc

namespace llmc {

struct BenchOptions {
  int64_t prompt_tokens = 128;  // prefill: one batch of this many tokens
  int64_t decode_tokens = 64;   // decode: this many single-token steps after the prompt
  int repetitions = 3;          // the best of N runs is reported (least disturbed by other load)
  KvCacheType kv_cache = KvCacheType::kF16;  // as llama.cpp's llama-bench
};

struct BenchResult {
  double prefill_tokens_per_s = 0;
  double decode_tokens_per_s = 0;
  int64_t peak_rss_bytes = 0;
  int64_t weight_bytes = 0;
  // Bytes of weights read per decoded token / decode time: the bandwidth decode achieved.
  double decode_weight_gb_per_s = 0;
  nlohmann::json ToJson() const;
};

// Times prefill and greedy decode on a fixed synthetic token sequence (token ids spread over the
// vocabulary; speed does not depend on the text).
Result<BenchResult> BenchmarkModel(Model& model, const BenchOptions& opts);

// Peak resident set size of this process so far.
int64_t PeakRssBytes();

}  // namespace llmc
