// `llmc validate --reference A --candidate B --text FILE`: what quantization cost, with pass/fail.
#include "cli/model_input.h"

namespace llmc::cli {
namespace {

struct ValidateArgs {
  std::string reference;
  std::string candidate;
  std::string text;
  WindowFlags windows;
  ValidationThresholds thresholds;
  int threads = 0;
  KvCacheType kv_cache = KvCacheType::kF32;
};

Status RunValidate(const ValidateArgs& a, const GlobalOptions& g) {
  ApplyThreads(a.threads);
  LLMC_ASSIGN_OR_RETURN(LoadedModel ref, LoadModelWithTokenizer(a.reference));
  LLMC_ASSIGN_OR_RETURN(LoadedModel cand, LoadModelWithTokenizer(a.candidate));
  LLMC_ASSIGN_OR_RETURN(const std::vector<int32_t> tokens, TokenizeTextFile(*ref.tokenizer, a.text));
  PerplexityOptions opts = ToPerplexityOptions(a.windows, *ref.tokenizer);
  opts.kv_cache = a.kv_cache;
  auto v = ValidateModels(*ref.model, *cand.model, tokens, opts, a.thresholds);
  if (!v.ok()) return v.status().WithContext(a.text);
  if (g.json) {
    nlohmann::json j = v->ToJson();
    j["reference_model"] = a.reference;
    j["candidate_model"] = a.candidate;
    j["text"] = a.text;
    j["kv_cache"] = KvCacheName(a.kv_cache);
    PrintJson(j);
  } else {
    PrintValidation(*v);
  }
  if (!v->passed) {
    return Status::FailedCheck("candidate misses the thresholds (cosine {:.4f}, PPL increase {:.2f} %)",
                               v->logits_cosine, v->ppl_increase_pct);
  }
  return Status::OK();
}

const CommandRegistration kValidate("validate", [](CLI::App& app, GlobalOptions& g, std::function<Status()>& run) {
  auto args = std::make_shared<ValidateArgs>();
  CLI::App* cmd = app.add_subcommand("validate", "Measure what quantization cost: candidate vs reference, pass/fail");
  cmd->footer(
      "Compares a candidate (e.g. quantized) model with its reference on the same text windows:\n"
      "perplexity of both, PPL increase, mean cosine of logits and of final hidden states, mean\n"
      "KL(reference || candidate), top-1 agreement. Exit status 0 = pass, 3 = thresholds missed.");
  cmd->add_option("--reference", args->reference, "Reference store (e.g. the FP16 V1 store)")->required();
  cmd->add_option("--candidate", args->candidate, "Candidate store (e.g. a quantized V2 store)")->required();
  cmd->add_option("--text", args->text, "UTF-8 evaluation text")->required();
  AddWindowFlags(cmd, args->windows);
  cmd->add_option("--min-cosine", args->thresholds.min_cosine, "Pass threshold: mean logits cosine")
      ->capture_default_str();
  cmd->add_option("--max-ppl-increase", args->thresholds.max_ppl_increase_pct, "Pass threshold: PPL increase in %")
      ->capture_default_str();
  AddThreadsFlag(cmd, args->threads);
  AddKvCacheFlag(cmd, args->kv_cache);
  AddJsonFlag(cmd, g);
  run = [args, &g] { return RunValidate(*args, g); };
  return cmd;
});

}  // namespace
}  // namespace llmc::cli
