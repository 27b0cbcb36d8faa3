// `llmc generate`: continue a prompt with a stored model, streaming the text as it is produced.
// Greedy by default; --temp/--top-k/--seed sample. Stops after -n tokens or at the EOS token.
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/model_input.h"
#include "llmc/kernels.h"
#include "llmc/model.h"
#include "llmc/tokenizer.h"

namespace llmc::cli {
namespace {

struct GenerateArgs {
  std::string model;
  std::string prompt;
  int64_t max_tokens = 64;
  double temperature = 0.0;
  int64_t top_k = 0;
  uint64_t seed = 0;
  int threads = 0;
  KvCacheType kv_cache = KvCacheType::kF16;
};

constexpr const char* kFooter = R"(The model is an llmc store (V1 dense or V2 quantized, e.g. from `llmc quantize`);
quantized weights stay quantized while it runs. The prompt is tokenized with the model's own tokenizer
(BOS added when the tokenizer expects it); the prompt goes through the model in one batched pass, then
one token at a time with a KV cache.

Examples:
  llmc generate smol-int4.parquet --prompt "The capital of France is" -n 32
  llmc generate smol-int4.parquet --prompt "Once upon a time" --temp 0.8 --top-k 40 --seed 7 --json)";

// Longest prefix of `text` that does not end inside a UTF-8 sequence, so streamed output never
// splits a character whose bytes arrive in different tokens.
size_t CompleteUtf8Prefix(const std::string& text) {
  size_t end = text.size();
  size_t back = 0;
  while (back < 4 && back < end && (static_cast<unsigned char>(text[end - 1 - back]) & 0xC0) == 0x80) ++back;
  if (back == end) return end;
  const auto lead = static_cast<unsigned char>(text[end - 1 - back]);
  const size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
  return back + 1 < need ? end - 1 - back : end;
}

// The text the generated tokens add after the prompt. Decoding them together with the prompt keeps
// the spacing a tokenizer attaches to a word's first piece (SentencePiece drops it at text start).
std::string Continuation(const Tokenizer& tokenizer, const std::vector<int32_t>& prompt,
                         const std::vector<int32_t>& generated) {
  std::vector<int32_t> all = prompt;
  all.insert(all.end(), generated.begin(), generated.end());
  const std::string before = tokenizer.Decode(prompt);
  std::string text = tokenizer.Decode(all);
  if (text.compare(0, before.size(), before) == 0) return text.substr(before.size());
  return tokenizer.Decode(generated);
}

Status CheckArgs(const GenerateArgs& a) {
  if (a.max_tokens < 0) return Status::Invalid("-n {}: expected a token count >= 0", a.max_tokens);
  if (a.temperature < 0) return Status::Invalid("--temp {}: expected >= 0 (0 is greedy)", a.temperature);
  if (a.top_k < 0) return Status::Invalid("--top-k {}: expected >= 0 (0 keeps every token)", a.top_k);
  if (a.threads < 0) return Status::Invalid("--threads {}: expected >= 0 (0 uses every core)", a.threads);
  return Status::OK();
}

Status RunGenerate(const GenerateArgs& a, const GlobalOptions& global) {
  LLMC_RETURN_IF_ERROR(CheckArgs(a));
  SetNumThreads(a.threads);
  LLMC_ASSIGN_OR_RETURN(std::unique_ptr<Model> model, Model::Open(a.model));
  auto tokenizer = Tokenizer::FromSpec(model->tokenizer_spec());
  if (!tokenizer.ok()) return tokenizer.status().WithContext(a.model + ": tokenizer");
  const std::vector<int32_t> prompt = (*tokenizer)->Encode(a.prompt, (*tokenizer)->add_bos_by_default());
  if (prompt.empty()) return Status::Invalid("--prompt: the prompt is empty and the tokenizer adds no BOS token");
  const int64_t vocab = model->config().vocab_size;
  const int32_t eos = (*tokenizer)->eos_id() >= 0 ? (*tokenizer)->eos_id()
                                                   : static_cast<int32_t>(model->config().eos_token_id);
  std::unique_ptr<Sequence> seq = model->NewSequence(static_cast<int64_t>(prompt.size()) + a.max_tokens, a.kv_cache);
  std::vector<float> logits(static_cast<size_t>(vocab));
  Sampler sampler(SamplingOptions{a.temperature, a.top_k, a.seed});

  const auto start = std::chrono::steady_clock::now();
  // All prompt tokens but the last only fill the cache; the last one yields the first logits.
  const std::span<const int32_t> all(prompt);
  LLMC_RETURN_IF_ERROR(model->Forward(*seq, all.first(all.size() - 1), nullptr, nullptr));
  LLMC_RETURN_IF_ERROR(model->Forward(*seq, all.last(1), logits.data(), nullptr));
  const auto prefilled = std::chrono::steady_clock::now();

  std::vector<int32_t> generated;
  std::string text;
  size_t printed = 0;
  bool stopped_at_eos = false;
  if (!global.json) fmt::print("{}", a.prompt);
  while (static_cast<int64_t>(generated.size()) < a.max_tokens) {
    const int32_t next = sampler.Sample(logits);
    if (next == eos) {
      stopped_at_eos = true;
      break;
    }
    generated.push_back(next);
    text = Continuation(**tokenizer, prompt, generated);
    if (!global.json) {
      const size_t ready = CompleteUtf8Prefix(text);
      if (ready > printed) {
        fmt::print("{}", text.substr(printed, ready - printed));
        std::fflush(stdout);
        printed = ready;
      }
    }
    if (static_cast<int64_t>(generated.size()) == a.max_tokens) break;
    LLMC_RETURN_IF_ERROR(model->Forward(*seq, std::span<const int32_t>(&generated.back(), 1), logits.data(), nullptr));
  }
  const auto done = std::chrono::steady_clock::now();
  const double prefill_s = std::chrono::duration<double>(prefilled - start).count();
  const double decode_s = std::chrono::duration<double>(done - prefilled).count();
  const double tokens_per_s = decode_s > 0 ? static_cast<double>(generated.size()) / decode_s : 0.0;

  if (global.json) {
    PrintJson({{"model", a.model},
               {"prompt", a.prompt},
               {"prompt_tokens", prompt},
               {"tokens", generated},
               {"text", text},
               {"stopped_at_eos", stopped_at_eos},
               {"prefill_seconds", prefill_s},
               {"decode_seconds", decode_s},
               {"tokens_per_second", tokens_per_s},
               {"threads", NumThreads()},
               {"kv_cache", KvCacheName(a.kv_cache)},
               {"kernel_target", KernelTarget()}});
  } else {
    fmt::print("{}\n", text.substr(printed));
    std::fflush(stdout);
    std::fprintf(stderr, "[%zu prompt tokens in %.2f s, %zu generated at %.1f tokens/s%s]\n", prompt.size(),
                 prefill_s, generated.size(), tokens_per_s, stopped_at_eos ? ", stopped at EOS" : "");
  }
  return Status::OK();
}

const CommandRegistration kGenerate("generate", [](CLI::App& app, GlobalOptions& global,
                                                   std::function<Status()>& run) {
  auto args = std::make_shared<GenerateArgs>();
  CLI::App* cmd = app.add_subcommand("generate", "Continue a prompt with a stored model (greedy or sampled)");
  cmd->footer(kFooter);
  cmd->add_option("model", args->model, "The llmc store to run (.parquet)")->required();
  cmd->add_option("--prompt", args->prompt, "Text to continue")->required();
  cmd->add_option("-n,--max-tokens", args->max_tokens, "Tokens to generate at most (stops earlier at EOS)")
      ->capture_default_str();
  cmd->add_option("--temp", args->temperature, "Sampling temperature; 0 picks the most likely token (greedy)")
      ->capture_default_str();
  cmd->add_option("--top-k", args->top_k, "Sample only among the k most likely tokens (0: all)")
      ->capture_default_str();
  cmd->add_option("--seed", args->seed, "Random seed for sampling (same seed, same text)")->capture_default_str();
  cmd->add_option("--threads", args->threads, "Worker threads (0: every core)")->capture_default_str();
  AddKvCacheFlag(cmd, args->kv_cache);
  AddJsonFlag(cmd, global);
  run = [args, &global]() { return RunGenerate(*args, global); };
  return cmd;
});

}  // namespace
}  // namespace llmc::cli
