// Throughput of a stored model: prefill (one batch) and decode (token by token) tokens per second.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include "llmc/eval.h"
#include "llmc/kernels.h"

namespace llmc {

namespace {

double SecondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::vector<int32_t> SyntheticTokens(int64_t n, int64_t vocab) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) t[i] = static_cast<int32_t>((i * 7919 + 13) % vocab);
  return t;
}

}  // namespace

int64_t PeakRssBytes() {
  struct rusage ru {};
  ::getrusage(RUSAGE_SELF, &ru);
  return static_cast<int64_t>(ru.ru_maxrss) * 1024;
}

nlohmann::json BenchResult::ToJson() const {
  return {{"prefill_tokens_per_s", prefill_tokens_per_s},
          {"decode_tokens_per_s", decode_tokens_per_s},
          {"peak_rss_bytes", peak_rss_bytes},
          {"weight_bytes", weight_bytes},
          {"decode_weight_gb_per_s", decode_weight_gb_per_s}};
}

Result<BenchResult> BenchmarkModel(Model& model, const BenchOptions& opts) {
  if (opts.prompt_tokens < 1 || opts.decode_tokens < 1 || opts.repetitions < 1) {
    return Status::Invalid("bench: prompt tokens, decode tokens and repetitions must be >= 1");
  }
  const int64_t vocab = model.config().vocab_size;
  const std::vector<int32_t> prompt = SyntheticTokens(opts.prompt_tokens, vocab);
  std::vector<float> logits(static_cast<size_t>(opts.prompt_tokens * vocab));
  auto seq = model.NewSequence(opts.prompt_tokens + opts.decode_tokens, opts.kv_cache);
  double best_prefill = 1e30, best_decode = 1e30;
  for (int rep = 0; rep < opts.repetitions; ++rep) {
    seq->Reset();
    auto t0 = std::chrono::steady_clock::now();
    LLMC_RETURN_IF_ERROR(model.Forward(*seq, prompt, logits.data(), nullptr));
    best_prefill = std::min(best_prefill, SecondsSince(t0));
    auto next = static_cast<int32_t>(ArgMax(logits.data() + logits.size() - vocab, vocab));
    t0 = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < opts.decode_tokens; ++i) {
      LLMC_RETURN_IF_ERROR(model.Forward(*seq, std::span<const int32_t>(&next, 1), logits.data(), nullptr));
      next = static_cast<int32_t>(ArgMax(logits.data(), vocab));
    }
    best_decode = std::min(best_decode, SecondsSince(t0));
  }
  BenchResult r;
  r.prefill_tokens_per_s = static_cast<double>(opts.prompt_tokens) / best_prefill;
  r.decode_tokens_per_s = static_cast<double>(opts.decode_tokens) / best_decode;
  r.weight_bytes = model.weight_bytes();
  r.decode_weight_gb_per_s = static_cast<double>(r.weight_bytes) * r.decode_tokens_per_s / 1e9;
  r.peak_rss_bytes = PeakRssBytes();
  return r;
}

}  // namespace llmc
