// Perplexity and reference-vs-candidate validation over the same token windows.
//
// Method (llama.cpp's `perplexity`): the text is tokenized once; it is cut into consecutive,
// non-overlapping windows of `ctx` tokens (an incomplete tail is dropped); when the model expects a
// BOS token, the first token of every window is replaced by BOS. Each window is run from an empty
// cache, and only its second half is scored: the logits at positions ctx/2 .. ctx-2 predict the
// tokens at positions ctx/2+1 .. ctx-1, so every scored token sees at least ctx/2 tokens of context.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include "llmc/eval.h"
#include "llmc/progress.h"

namespace llmc {

namespace {

struct WindowPlan {
  int64_t ctx = 0;
  int64_t windows = 0;
  int64_t first_scored = 0;  // logit position of the first scored prediction
};

Result<WindowPlan> PlanWindows(const std::vector<int32_t>& tokens, const PerplexityOptions& opts) {
  if (opts.ctx < 4) return Status::Invalid("context {} is too short (expected >= 4 tokens)", opts.ctx);
  if (tokens.empty()) return Status::Invalid("the text is empty: no tokens to score");
  const auto n = static_cast<int64_t>(tokens.size());
  if (n < opts.ctx) {
    return Status::Invalid("the text has {} tokens, shorter than one window of {} (use a longer text or a smaller --ctx)",
                           n, opts.ctx);
  }
  WindowPlan plan;
  plan.ctx = opts.ctx;
  plan.windows = n / opts.ctx;
  if (opts.max_chunks > 0) plan.windows = std::min(plan.windows, opts.max_chunks);
  plan.first_scored = opts.ctx / 2;
  return plan;
}

std::string MethodText(const WindowPlan& plan, bool bos, bool decode = false) {
  return fmt::format(
      "non-overlapping windows of {} tokens{}; each window scored on its second half: logits at positions "
      "{}..{} predict tokens {}..{} ({} tokens per window){}; PPL = exp(mean NLL)",
      plan.ctx, bos ? " (first token of each window replaced by BOS)" : "", plan.first_scored, plan.ctx - 2,
      plan.first_scored + 1, plan.ctx - 1, plan.ctx - 1 - plan.first_scored,
      decode ? ", positions 0.." + std::to_string(plan.first_scored - 1) +
                   " prefilled in one batch and the scored ones decoded one token at a time"
             : "");
}

// Tokens of window w, with BOS in front when the model wants it.
std::vector<int32_t> WindowTokens(const std::vector<int32_t>& tokens, const WindowPlan& plan, int64_t w,
                                  int32_t bos) {
  std::vector<int32_t> win(tokens.begin() + w * plan.ctx, tokens.begin() + (w + 1) * plan.ctx);
  if (bos >= 0) win[0] = bos;
  return win;
}

// log-softmax of one logit row at `target`, and the row's log-sum-exp, in double.
double LogSumExp(const float* logits, int64_t vocab) {
  const float mx = *std::max_element(logits, logits + vocab);
  double sum = 0;
  for (int64_t v = 0; v < vocab; ++v) sum += std::exp(static_cast<double>(logits[v]) - mx);
  return mx + std::log(sum);
}

double Cosine(const float* a, const float* b, int64_t n) {
  double dot = 0, na = 0, nb = 0;
  for (int64_t i = 0; i < n; ++i) {
    dot += static_cast<double>(a[i]) * b[i];
    na += static_cast<double>(a[i]) * a[i];
    nb += static_cast<double>(b[i]) * b[i];
  }
  if (na == 0 || nb == 0) return na == nb ? 1.0 : 0.0;
  return dot / std::sqrt(na * nb);
}

// KL(p || q) with p, q the softmax of the two logit rows.
double KlDivergence(const float* ref, double ref_lse, const float* cand, double cand_lse, int64_t vocab) {
  double kl = 0;
  for (int64_t v = 0; v < vocab; ++v) {
    const double lp = ref[v] - ref_lse;
    const double lq = cand[v] - cand_lse;
    kl += std::exp(lp) * (lp - lq);
  }
  return std::max(0.0, kl);
}

int64_t ArgMax(const float* x, int64_t n) { return std::max_element(x, x + n) - x; }

// Accumulates per-token NLL (Welford's running mean and variance: no cancellation when the NLLs are
// nearly equal) and turns it into a PerplexityResult.
class NllAccumulator {
 public:
  void Add(double nll) {
    ++count_;
    const double delta = nll - mean_;
    mean_ += delta / static_cast<double>(count_);
    m2_ += delta * (nll - mean_);
  }
  PerplexityResult Finish(int64_t chunks, std::string method) const {
    PerplexityResult r;
    r.tokens_scored = count_;
    r.chunks = chunks;
    r.mean_nll = mean_;
    r.perplexity = std::exp(mean_);
    const double var = count_ > 1 ? m2_ / static_cast<double>(count_ - 1) : 0.0;
    // Standard error of the mean NLL, propagated through exp (as llama.cpp reports PPL ± error).
    r.perplexity_stderr = r.perplexity * std::sqrt(var / static_cast<double>(std::max<int64_t>(1, count_)));
    r.method = std::move(method);
    return r;
  }

 private:
  double mean_ = 0;
  double m2_ = 0;
  int64_t count_ = 0;
};

int32_t BosFor(const Model& model, bool add_bos) {
  return add_bos ? static_cast<int32_t>(model.config().bos_token_id) : -1;
}

}  // namespace

nlohmann::json PerplexityResult::ToJson() const {
  return {{"perplexity", perplexity},       {"perplexity_stderr", perplexity_stderr}, {"mean_nll", mean_nll},
          {"tokens_scored", tokens_scored}, {"chunks", chunks},                     {"method", method}};
}

nlohmann::json ValidationResult::ToJson() const {
  return {{"reference", reference.ToJson()},
          {"candidate", candidate.ToJson()},
          {"ppl_increase_pct", ppl_increase_pct},
          {"logits_cosine", logits_cosine},
          {"hidden_cosine", hidden_cosine},
          {"kl_divergence", kl_divergence},
          {"top1_agreement", top1_agreement},
          {"thresholds", {{"min_cosine", thresholds.min_cosine}, {"max_ppl_increase_pct", thresholds.max_ppl_increase_pct}}},
          {"passed", passed}};
}

Result<PerplexityResult> ComputePerplexity(Model& model, const std::vector<int32_t>& tokens,
                                           const PerplexityOptions& opts) {
  LLMC_ASSIGN_OR_RETURN(const WindowPlan plan, PlanWindows(tokens, opts));
  const int64_t vocab = model.config().vocab_size;
  const int32_t bos = BosFor(model, opts.add_bos);
  std::vector<float> logits(static_cast<size_t>(plan.ctx * vocab));
  auto seq = model.NewSequence(plan.ctx, opts.kv_cache);
  NllAccumulator nll;
  ProgressBar bar("perplexity", plan.windows);
  for (int64_t w = 0; w < plan.windows; ++w) {
    const std::vector<int32_t> win = WindowTokens(tokens, plan, w, bos);
    seq->Reset();
    if (opts.decode) {
      const std::span<const int32_t> window(win);
      LLMC_RETURN_IF_ERROR(model.Forward(*seq, window.first(plan.first_scored), nullptr, nullptr));
      for (int64_t p = plan.first_scored; p < plan.ctx - 1; ++p) {
        LLMC_RETURN_IF_ERROR(model.Forward(*seq, window.subspan(p, 1), logits.data(), nullptr));
        nll.Add(LogSumExp(logits.data(), vocab) - logits[win[p + 1]]);
      }
    } else {
      LLMC_RETURN_IF_ERROR(model.Forward(*seq, win, logits.data(), nullptr));
      for (int64_t p = plan.first_scored; p < plan.ctx - 1; ++p) {
        const float* row = logits.data() + p * vocab;
        nll.Add(LogSumExp(row, vocab) - row[win[p + 1]]);
      }
    }
    bar.Tick();
  }
  return nll.Finish(plan.windows, MethodText(plan, bos >= 0, opts.decode));
}

Result<ValidationResult> ValidateModels(Model& reference, Model& candidate, const std::vector<int32_t>& tokens,
                                        const PerplexityOptions& opts, const ValidationThresholds& thresholds) {
  const ModelConfig& rc = reference.config();
  const ModelConfig& cc = candidate.config();
  if (rc.vocab_size != cc.vocab_size || rc.hidden_size != cc.hidden_size) {
    return Status::Invalid("reference and candidate differ in shape: vocab {} vs {}, hidden {} vs {}", rc.vocab_size,
                           cc.vocab_size, rc.hidden_size, cc.hidden_size);
  }
  LLMC_ASSIGN_OR_RETURN(const WindowPlan plan, PlanWindows(tokens, opts));
  const int64_t vocab = rc.vocab_size;
  const int64_t hidden = rc.hidden_size;
  const int32_t bos = BosFor(reference, opts.add_bos);
  std::vector<float> ref_logits(static_cast<size_t>(plan.ctx * vocab)), cand_logits(ref_logits.size());
  std::vector<float> ref_hidden(static_cast<size_t>(plan.ctx * hidden)), cand_hidden(ref_hidden.size());
  auto ref_seq = reference.NewSequence(plan.ctx, opts.kv_cache);
  auto cand_seq = candidate.NewSequence(plan.ctx, opts.kv_cache);
  NllAccumulator ref_nll, cand_nll;
  double cos_logits = 0, cos_hidden = 0, kl = 0;
  int64_t agree = 0, scored = 0;
  ProgressBar bar("validate", plan.windows);
  for (int64_t w = 0; w < plan.windows; ++w) {
    const std::vector<int32_t> win = WindowTokens(tokens, plan, w, bos);
    ref_seq->Reset();
    cand_seq->Reset();
    LLMC_RETURN_IF_ERROR(reference.Forward(*ref_seq, win, ref_logits.data(), ref_hidden.data()));
    LLMC_RETURN_IF_ERROR(candidate.Forward(*cand_seq, win, cand_logits.data(), cand_hidden.data()));
    for (int64_t p = plan.first_scored; p < plan.ctx - 1; ++p) {
      const float* r = ref_logits.data() + p * vocab;
      const float* c = cand_logits.data() + p * vocab;
      const double r_lse = LogSumExp(r, vocab);
      const double c_lse = LogSumExp(c, vocab);
      ref_nll.Add(r_lse - r[win[p + 1]]);
      cand_nll.Add(c_lse - c[win[p + 1]]);
      cos_logits += Cosine(r, c, vocab);
      cos_hidden += Cosine(ref_hidden.data() + p * hidden, cand_hidden.data() + p * hidden, hidden);
      kl += KlDivergence(r, r_lse, c, c_lse, vocab);
      agree += ArgMax(r, vocab) == ArgMax(c, vocab);
      ++scored;
    }
    bar.Tick();
  }
  ValidationResult v;
  const std::string method = MethodText(plan, bos >= 0);
  v.reference = ref_nll.Finish(plan.windows, method);
  v.candidate = cand_nll.Finish(plan.windows, method);
  v.ppl_increase_pct = 100.0 * (v.candidate.perplexity / v.reference.perplexity - 1.0);
  v.logits_cosine = cos_logits / static_cast<double>(scored);
  v.hidden_cosine = cos_hidden / static_cast<double>(scored);
  v.kl_divergence = kl / static_cast<double>(scored);
  v.top1_agreement = static_cast<double>(agree) / static_cast<double>(scored);
  v.thresholds = thresholds;
  v.passed = v.logits_cosine >= thresholds.min_cosine && v.ppl_increase_pct <= thresholds.max_ppl_increase_pct;
  return v;
}

}  // namespace llmc
