// `llmc bench MODEL`: prefill and decode tokens/s, peak RSS.
#include "cli/model_input.h"
#include "llmc/kernels.h"

namespace llmc::cli {
namespace {

struct BenchArgs {
  std::string model;
  BenchOptions opts;
  int threads = 0;
  bool float_activations = false;
};

Status RunBench(const BenchArgs& a, const GlobalOptions& g) {
  ApplyThreads(a.threads);
  SetActivationInt8(!a.float_activations);
  LLMC_ASSIGN_OR_RETURN(std::unique_ptr<Model> model, Model::Open(a.model));
  LLMC_ASSIGN_OR_RETURN(const BenchResult r, BenchmarkModel(*model, a.opts));
  nlohmann::json j = r.ToJson();
  j["model"] = a.model;
  j["threads"] = NumThreads();
  j["kernel_target"] = KernelTarget();
  // Int8 applies to quantized weights only (dense ones always take float activations).
  j["decode_activations"] = ActivationInt8() ? "int8 for quantized weights" : "float";
  j["kv_cache"] = KvCacheName(a.opts.kv_cache);
  j["prompt_tokens"] = a.opts.prompt_tokens;
  j["decode_tokens"] = a.opts.decode_tokens;
  if (g.json) {
    PrintJson(j);
  } else {
    fmt::print("prefill  {:>10.1f} tokens/s  ({} tokens)\n", r.prefill_tokens_per_s, a.opts.prompt_tokens);
    fmt::print("decode   {:>10.1f} tokens/s  ({} tokens; weights streamed at {:.2f} GB/s; activations {}; KV cache {})\n",
               r.decode_tokens_per_s, a.opts.decode_tokens, r.decode_weight_gb_per_s,
               ActivationInt8() ? "int8 for quantized weights" : "float", KvCacheName(a.opts.kv_cache));
    fmt::print("weights  {:>10.1f} MB in memory; peak RSS {:.1f} MB; {} threads, kernels {}\n",
               static_cast<double>(r.weight_bytes) / 1e6, static_cast<double>(r.peak_rss_bytes) / 1e6, NumThreads(),
               KernelTarget());
  }
  return Status::OK();
}

const CommandRegistration kBench("bench", [](CLI::App& app, GlobalOptions& g, std::function<Status()>& run) {
  auto args = std::make_shared<BenchArgs>();
  CLI::App* cmd = app.add_subcommand("bench", "Prefill and decode tokens/s of a stored model, and its peak memory");
  cmd->footer("Prefill: one batch of --prompt-tokens; decode: --decode-tokens greedy steps after it. The best of\n"
              "--reps runs is reported. Token ids are synthetic: speed does not depend on the text.");
  cmd->add_option("model", args->model, "An llmc store (.parquet)")->required();
  cmd->add_option("--prompt-tokens", args->opts.prompt_tokens, "Tokens in the prefill batch")->capture_default_str();
  cmd->add_option("--decode-tokens", args->opts.decode_tokens, "Tokens decoded one by one")->capture_default_str();
  cmd->add_option("--reps", args->opts.repetitions, "Repetitions (the best is reported)")->capture_default_str();
  AddThreadsFlag(cmd, args->threads);
  cmd->add_flag("--float-activations", args->float_activations,
                "Decode keeps float activations (default: int8 per block of 32 for quantized weights)");
  AddKvCacheFlag(cmd, args->opts.kv_cache);
  AddJsonFlag(cmd, g);
  run = [args, &g] { return RunBench(*args, g); };
  return cmd;
});

}  // namespace
}  // namespace llmc::cli
