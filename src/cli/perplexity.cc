// `llmc perplexity MODEL --text FILE`: perplexity of a stored model, llama.cpp's windowing.
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
  KvCacheType kv_cache = KvCacheType::kF32;
};

Status RunPerplexity(const PerplexityArgs& a, const GlobalOptions& g) {
  ApplyThreads(a.threads);
  SetActivationInt8(!a.float_activations);
  LLMC_ASSIGN_OR_RETURN(LoadedModel m, LoadModelWithTokenizer(a.model));
  LLMC_ASSIGN_OR_RETURN(const std::vector<int32_t> tokens, TokenizeTextFile(*m.tokenizer, a.text));
  PerplexityOptions opts = ToPerplexityOptions(a.windows, *m.tokenizer);
  opts.decode = a.decode;
  opts.kv_cache = a.kv_cache;
  auto r = ComputePerplexity(*m.model, tokens, opts);
  if (!r.ok()) return r.status().WithContext(a.text);
  nlohmann::json j = r->ToJson();
  j["model"] = a.model;
  j["text"] = a.text;
  j["text_tokens"] = tokens.size();
  j["decode"] = a.decode;
  j["decode_activations"] = ActivationInt8() ? "int8" : "float";
  j["kv_cache"] = KvCacheName(a.kv_cache);
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
  AddKvCacheFlag(cmd, args->kv_cache);
  AddJsonFlag(cmd, g);
  run = [args, &g] { return RunPerplexity(*args, g); };
  return cmd;
});

}  // namespace
}  // namespace llmc::cli
