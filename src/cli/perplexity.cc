// `llmc perplexity MODEL --text FILE`: perplexity of a stored model, llama.cpp's windowing.
#include <algorithm>
#include <cmath>
#include <span>

#include "cli/model_input.h"
#include "llmc/kernels.h"

namespace llmc::cli {
namespace {

struct PerplexityArgs {
  std::string model;
  std::string text;
  WindowFlags windows;
  int threads = 0;
  bool float_activations = false;
  bool decode = false;
};

// Perplexity through the decode kernels, with ComputePerplexity's windows (llama.cpp's method):
// each window's unscored first half is one batched prefill, as a prompt is, and its scored second
// half is fed one token at a time, as decoding is, so every scored logit row comes from the decode
// GEMV (int8 activations by default) instead of the prefill GEMM (float activations). Kept here, on
// Model's public Forward, so measuring the decode path needs no second evaluation API.
Result<PerplexityResult> DecodePerplexity(Model& model, const std::vector<int32_t>& tokens, const PerplexityOptions& o) {
  if (o.ctx < 4) return Status::Invalid("context {} is too short (expected >= 4 tokens)", o.ctx);
  const auto n = static_cast<int64_t>(tokens.size());
  if (n < o.ctx) return Status::Invalid("the text has {} tokens, shorter than one window of {}", n, o.ctx);
  const int64_t windows = o.max_chunks > 0 ? std::min(n / o.ctx, o.max_chunks) : n / o.ctx;
  const int64_t first_scored = o.ctx / 2;
  const int64_t vocab = model.config().vocab_size;
  std::vector<float> logits(static_cast<size_t>(vocab));
  auto seq = model.NewSequence(o.ctx);
  double mean = 0, m2 = 0;  // Welford's running mean and variance of the NLL
  int64_t count = 0;
  for (int64_t w = 0; w < windows; ++w) {
    std::vector<int32_t> win(tokens.begin() + w * o.ctx, tokens.begin() + (w + 1) * o.ctx);
    if (o.add_bos) win[0] = static_cast<int32_t>(model.config().bos_token_id);
    seq->Reset();
    LLMC_RETURN_IF_ERROR(model.Forward(*seq, std::span<const int32_t>(win).first(first_scored), nullptr, nullptr));
    for (int64_t p = first_scored; p < o.ctx - 1; ++p) {
      LLMC_RETURN_IF_ERROR(model.Forward(*seq, std::span<const int32_t>(win).subspan(p, 1), logits.data(), nullptr));
      const float mx = *std::max_element(logits.begin(), logits.end());
      double sum = 0;
      for (float v : logits) sum += std::exp(static_cast<double>(v) - mx);
      const double nll = mx + std::log(sum) - logits[win[p + 1]];
      const double delta = nll - mean;
      mean += delta / static_cast<double>(++count);
      m2 += delta * (nll - mean);
    }
  }
  PerplexityResult r;
  r.tokens_scored = count;
  r.chunks = windows;
  r.mean_nll = mean;
  r.perplexity = std::exp(mean);
  r.perplexity_stderr = count > 1 ? r.perplexity * std::sqrt(m2 / static_cast<double>(count - 1) / static_cast<double>(count)) : 0.0;
  r.method = fmt::format(
      "non-overlapping windows of {} tokens{}; positions 0..{} prefilled in one batch, then tokens {}..{} decoded one "
      "at a time, each logit row predicting the next token ({} tokens per window); PPL = exp(mean NLL)",
      o.ctx, o.add_bos ? " (first token of each window replaced by BOS)" : "", first_scored - 1, first_scored, o.ctx - 2,
      o.ctx - 1 - first_scored);
  return r;
}

Status RunPerplexity(const PerplexityArgs& a, const GlobalOptions& g) {
  ApplyThreads(a.threads);
  SetActivationInt8(!a.float_activations);
  LLMC_ASSIGN_OR_RETURN(LoadedModel m, LoadModelWithTokenizer(a.model));
  LLMC_ASSIGN_OR_RETURN(const std::vector<int32_t> tokens, TokenizeTextFile(*m.tokenizer, a.text));
  const PerplexityOptions opts = ToPerplexityOptions(a.windows, *m.tokenizer);
  auto r = a.decode ? DecodePerplexity(*m.model, tokens, opts) : ComputePerplexity(*m.model, tokens, opts);
  if (!r.ok()) return r.status().WithContext(a.text);
  nlohmann::json j = r->ToJson();
  j["model"] = a.model;
  j["text"] = a.text;
  j["text_tokens"] = tokens.size();
  j["decode"] = a.decode;
  j["decode_activations"] = ActivationInt8() ? "int8" : "float";
  if (g.json) {
    PrintJson(j);
  } else {
    fmt::print("perplexity {:.4f} ± {:.4f} over {} tokens in {} windows\nmethod: {}\n", r->perplexity,
               r->perplexity_stderr, r->tokens_scored, r->chunks, r->method);
    if (a.decode) fmt::print("decode activations: {}\n", ActivationInt8() ? "int8 (per block of 32)" : "float");
  }
  return Status::OK();
}

const CommandRegistration kPerplexity("perplexity", [](CLI::App& app, GlobalOptions& g, std::function<Status()>& run) {
  auto args = std::make_shared<PerplexityArgs>();
  CLI::App* cmd = app.add_subcommand("perplexity", "Perplexity of a stored model on a text file");
  cmd->footer(
      "Method (llama.cpp's): the text is tokenized once and cut into non-overlapping windows of --ctx tokens\n"
      "(the incomplete tail is dropped; BOS replaces each window's first token when the model uses BOS);\n"
      "only the second half of each window is scored, so every scored token has >= ctx/2 tokens of context.\n"
      "A window is one batched forward pass (prefill kernels, float activations) unless --decode scores its\n"
      "second half one token at a time through the decode kernels, whose activations are int8 (per block of\n"
      "32) for quantized weights unless --float-activations: compare the two to see the int8 effect.");
  cmd->add_option("model", args->model, "An llmc store (.parquet)")->required();
  cmd->add_option("--text", args->text, "UTF-8 text file to score (never the calibration text)")->required();
  AddWindowFlags(cmd, args->windows);
  AddThreadsFlag(cmd, args->threads);
  cmd->add_flag("--decode", args->decode,
                "Score each window's second half one token at a time (decode kernels; slower, same windows)");
  cmd->add_flag("--float-activations", args->float_activations,
                "Decode kernels keep float activations (default: int8 per block of 32 for quantized weights)");
  AddJsonFlag(cmd, g);
  run = [args, &g] { return RunPerplexity(*args, g); };
  return cmd;
});

}  // namespace
}  // namespace llmc::cli
