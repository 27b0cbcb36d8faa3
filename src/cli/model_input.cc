#include "cli/model_input.h"

#include "llmc/file.h"
#include "llmc/kernels.h"

namespace llmc::cli {

Result<LoadedModel> LoadModelWithTokenizer(const std::string& store_path) {
  LoadedModel m;
  LLMC_ASSIGN_OR_RETURN(m.model, Model::Open(store_path));
  if (m.model->tokenizer_spec().is_null()) {
    return Status::NotFound("{}: the store carries no tokenizer (convert from a directory with tokenizer files)",
                            store_path);
  }
  auto tok = Tokenizer::FromSpec(m.model->tokenizer_spec());
  if (!tok.ok()) return tok.status().WithContext(store_path);
  m.tokenizer = std::move(tok).value();
  return m;
}

Result<std::vector<int32_t>> TokenizeTextFile(const Tokenizer& tokenizer, const std::string& path) {
  LLMC_ASSIGN_OR_RETURN(const std::string text, ReadFileToString(path));
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) {
    return Status::Invalid("{}: the text is empty", path);
  }
  return tokenizer.Encode(text, /*add_bos=*/false);
}

void AddWindowFlags(CLI::App* cmd, WindowFlags& flags) {
  cmd->add_option("--ctx", flags.ctx, "Window length in tokens; the second half of each window is scored")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{4}, int64_t{1} << 20));
  cmd->add_option("--chunks", flags.chunks, "Score only the first N windows (0: all)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
}

PerplexityOptions ToPerplexityOptions(const WindowFlags& flags, const Tokenizer& tokenizer) {
  PerplexityOptions o;
  o.ctx = flags.ctx;
  o.max_chunks = flags.chunks;
  o.add_bos = tokenizer.add_bos_by_default() && tokenizer.bos_id() >= 0;
  return o;
}

void AddThreadsFlag(CLI::App* cmd, int& threads) {
  cmd->add_option("--threads", threads, "Threads for matmuls and attention (0: all cores)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
}

void ApplyThreads(int threads) { SetNumThreads(threads); }

void AddKvCacheFlag(CLI::App* cmd, KvCacheType& type) {
  const char* default_name = KvCacheName(type);
  cmd->add_option_function<std::string>(
         "--kv-cache", [&type](const std::string& name) { type = name == "f16" ? KvCacheType::kF16 : KvCacheType::kF32; },
         "KV cache element type: f32 (matches the float32 reference) or f16 (half the cache memory and attention "
         "reads, as llama.cpp's default)")
      ->check(CLI::IsMember({"f32", "f16"}))
      ->default_str(default_name);
}

const char* KvCacheName(KvCacheType type) { return type == KvCacheType::kF16 ? "f16" : "f32"; }

void PrintValidation(const ValidationResult& v) {
  fmt::print("                    reference    candidate\n");
  fmt::print("perplexity       {:>12.4f} {:>12.4f}   ({:+.2f} %)\n", v.reference.perplexity, v.candidate.perplexity,
             v.ppl_increase_pct);
  fmt::print("logits cosine    {:>12}{:>13.5f}\n", "", v.logits_cosine);
  fmt::print("hidden cosine    {:>12}{:>13.5f}\n", "", v.hidden_cosine);
  fmt::print("KL divergence    {:>12}{:>13.5f}  nats/token\n", "", v.kl_divergence);
  fmt::print("top-1 agreement  {:>12}{:>12.2f} %\n", "", 100 * v.top1_agreement);
  fmt::print("tokens scored    {:>12}\n", v.reference.tokens_scored);
  fmt::print("{}: cosine >= {} and PPL increase <= {} %\n", v.passed ? "PASS" : "FAIL", v.thresholds.min_cosine,
             v.thresholds.max_ppl_increase_pct);
}


}  // namespace llmc::cli
