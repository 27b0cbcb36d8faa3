// `llmc perplexity MODEL --text FILE`: perplexity of a stored model, llama.cpp's windowing.
#include "cli/model_input.h"

namespace llmc::cli {
namespace {

struct PerplexityArgs {
  std::string model;
  std::string text;
  WindowFlags windows;
  int threads = 0;
};

Status RunPerplexity(const PerplexityArgs& a, const GlobalOptions& g) {
  ApplyThreads(a.threads);
  LLMC_ASSIGN_OR_RETURN(LoadedModel m, LoadModelWithTokenizer(a.model));
  LLMC_ASSIGN_OR_RETURN(const std::vector<int32_t> tokens, TokenizeTextFile(*m.tokenizer, a.text));
  auto r = ComputePerplexity(*m.model, tokens, ToPerplexityOptions(a.windows, *m.tokenizer));
  if (!r.ok()) return r.status().WithContext(a.text);
  nlohmann::json j = r->ToJson();
  j["model"] = a.model;
  j["text"] = a.text;
  j["text_tokens"] = tokens.size();
  if (g.json) {
    PrintJson(j);
  } else {
    fmt::print("perplexity {:.4f} ± {:.4f} over {} tokens in {} windows\nmethod: {}\n", r->perplexity,
               r->perplexity_stderr, r->tokens_scored, r->chunks, r->method);
  }
  return Status::OK();
}

const CommandRegistration kPerplexity("perplexity", [](CLI::App& app, GlobalOptions& g, std::function<Status()>& run) {
  auto args = std::make_shared<PerplexityArgs>();
  CLI::App* cmd = app.add_subcommand("perplexity", "Perplexity of a stored model on a text file");
  cmd->footer(
      "Method (llama.cpp's): the text is tokenized once and cut into non-overlapping windows of --ctx tokens\n"
      "(the incomplete tail is dropped; BOS replaces each window's first token when the model uses BOS);\n"
      "only the second half of each window is scored, so every scored token has >= ctx/2 tokens of context.");
  cmd->add_option("model", args->model, "An llmc store (.parquet)")->required();
  cmd->add_option("--text", args->text, "UTF-8 text file to score (never the calibration text)")->required();
  AddWindowFlags(cmd, args->windows);
  AddThreadsFlag(cmd, args->threads);
  AddJsonFlag(cmd, g);
  run = [args, &g] { return RunPerplexity(*args, g); };
  return cmd;
});

}  // namespace
}  // namespace llmc::cli
