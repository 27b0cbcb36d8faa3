// `llmc compare`: quantize one model with several backends and measure each against the FP16
// reference on the same evaluation windows → report.md, report.json, plot.svg.
#include <chrono>
#include <filesystem>
#include <regex>

#include "cli/model_input.h"
#include "llmc/convert.h"
#include "llmc/file.h"
#include "llmc/report.h"
#include "quant/backend.h"
#include "quant/calibrated_quantizer.h"

namespace llmc::cli {
namespace {

constexpr const char* kDefaultBackends =
    "ptq-int8,ptq-int4,ptq-int2,gptq-4bit,gptq-2bit,angelslim-2bit,angelslim-2bit@2.5";

struct CompareArgs {
  std::string input;
  std::string backends = kDefaultBackends;
  std::string text;
  std::string calibration_data;
  std::string output_dir;
  int64_t calib_samples = 128;
  int64_t calib_seq_len = 512;
  WindowFlags windows;
  BenchOptions bench{.prompt_tokens = 64, .decode_tokens = 16, .repetitions = 1};
  int threads = 0;
};

// "ptq-int4", "gptq-2bit", "angelslim-2bit@2.5" → a QuantizationConfig document.
Result<nlohmann::json> BackendDocument(const std::string& name, const CompareArgs& a) {
  static const std::regex kPattern(R"(^(ptq|gptq|angelslim)-(?:int(\d+)|(\d+)bit)(?:@(\d+(?:\.\d+)?))?$)");
  std::smatch m;
  if (!std::regex_match(name, m, kPattern)) {
    return Status::Invalid("backend '{}': expected BACKEND-intN or BACKEND-Nbit[@BPW] with BACKEND ptq, gptq or "
                           "angelslim (e.g. ptq-int4, gptq-2bit, angelslim-2bit@2.5)",
                           name);
  }
  nlohmann::json doc = {{"backend", m[1].str()}, {"bits", std::stoi(m[2].matched ? m[2].str() : m[3].str())}};
  if (m[4].matched) doc["target_bpw"] = std::stod(m[4].str());
  if (doc["backend"] != "ptq") {
    if (a.calibration_data.empty()) {
      return Status::Invalid("backend '{}' needs --calibration-data", name);
    }
    doc["calibration"] = {{"data", a.calibration_data}, {"samples", a.calib_samples}, {"seq_len", a.calib_seq_len}};
  }
  return WithCalibratedBackendDefaults(std::move(doc));
}

// The FP16 reference store: the input itself when it is an llmc store, else a conversion of it.
Result<std::string> ReferenceStore(const CompareArgs& a) {
  if (WeightLoaderV2::Open(a.input).ok()) return a.input;
  const std::string path = a.output_dir + "/reference-f16.parquet";
  if (!FileExists(path)) {
    LLMC_RETURN_IF_ERROR(ConvertToStore(a.input, path, ConvertOptions{}).status());
  }
  return path;
}

Result<CompareRow> RunOneBackend(const std::string& name, const CompareArgs& a, const ImportedModel& source,
                                 Model& reference, const std::vector<int32_t>& tokens, const PerplexityOptions& popts,
                                 int64_t reference_bytes) {
  LLMC_ASSIGN_OR_RETURN(const nlohmann::json doc, BackendDocument(name, a));
  LLMC_ASSIGN_OR_RETURN(const QuantizationConfig config, QuantizationConfig::FromJson(doc));
  LLMC_ASSIGN_OR_RETURN(const std::vector<TensorPlan> plan, PlanQuantization(config, ShapesOf(source)));
  const std::string output = a.output_dir + "/" + name + ".parquet";
  LLMC_ASSIGN_OR_RETURN(const QuantizationReport q, QuantizeWithBackend(source, config, plan, output, nullptr));
  LLMC_ASSIGN_OR_RETURN(std::unique_ptr<Model> candidate, Model::Open(output));
  LLMC_ASSIGN_OR_RETURN(const ValidationResult v, ValidateModels(reference, *candidate, tokens, popts, {}));
  LLMC_ASSIGN_OR_RETURN(const BenchResult b, BenchmarkModel(*candidate, a.bench));
  CompareRow row;
  row.backend = name;
  row.file_bytes = q.file_bytes;
  row.bits_per_weight = q.bits_per_weight();
  row.ratio_vs_fp16 = static_cast<double>(reference_bytes) / static_cast<double>(q.file_bytes);
  row.perplexity = v.candidate.perplexity;
  row.perplexity_stderr = v.candidate.perplexity_stderr;
  row.ppl_increase_pct = v.ppl_increase_pct;
  row.logits_cosine = v.logits_cosine;
  row.kl_divergence = v.kl_divergence;
  row.top1_agreement = v.top1_agreement;
  row.prefill_tokens_per_s = b.prefill_tokens_per_s;
  row.decode_tokens_per_s = b.decode_tokens_per_s;
  row.quantize_seconds = q.seconds;
  row.passed = v.passed;
  return row;
}

Status RunCompare(const CompareArgs& a, const GlobalOptions& g) {
  ApplyThreads(a.threads);
  std::error_code ec;
  std::filesystem::create_directories(a.output_dir, ec);
  if (!IsDirectory(a.output_dir)) return Status::IOError("{}: cannot create the output directory", a.output_dir);
  std::vector<std::string> names;
  for (const auto& part : CLI::detail::split(a.backends, ',')) {
    if (!part.empty()) names.push_back(part);
  }
  if (names.empty()) return Status::Invalid("--backends is empty");
  for (const auto& n : names) LLMC_RETURN_IF_ERROR(BackendDocument(n, a).status());  // fail before any work

  LLMC_ASSIGN_OR_RETURN(const std::string ref_path, ReferenceStore(a));
  LLMC_ASSIGN_OR_RETURN(LoadedModel ref, LoadModelWithTokenizer(ref_path));
  LLMC_ASSIGN_OR_RETURN(const std::vector<int32_t> tokens, TokenizeTextFile(*ref.tokenizer, a.text));
  const PerplexityOptions popts = ToPerplexityOptions(a.windows, *ref.tokenizer);
  LLMC_ASSIGN_OR_RETURN(const PerplexityResult ref_ppl, ComputePerplexity(*ref.model, tokens, popts));
  LLMC_ASSIGN_OR_RETURN(const ImportedModel source, OpenQuantizationSource(ref_path));

  CompareReport report;
  report.model = a.input;
  report.eval_text = a.text;
  report.calibration_text = a.calibration_data;
  report.method = ref_ppl.method;
  report.reference_perplexity = ref_ppl.perplexity;
  LLMC_ASSIGN_OR_RETURN(report.reference_bytes, FileSize(ref_path));
  for (const auto& name : names) {
    if (!g.json) fmt::print(stderr, "compare: {}\n", name);
    auto row = RunOneBackend(name, a, source, *ref.model, tokens, popts, report.reference_bytes);
    if (!row.ok()) return row.status().WithContext(name);
    report.rows.push_back(*row);
    LLMC_RETURN_IF_ERROR(WriteCompareReport(report, a.output_dir));  // a partial report survives a later failure
  }
  if (g.json) {
    PrintJson(report.ToJson());
  } else {
    fmt::print("{}\nwrote {}/report.md, report.json, plot.svg\n", report.ToMarkdown(), a.output_dir);
  }
  return Status::OK();
}

const CommandRegistration kCompare("compare", [](CLI::App& app, GlobalOptions& g, std::function<Status()>& run) {
  auto args = std::make_shared<CompareArgs>();
  CLI::App* cmd = app.add_subcommand("compare", "Quantize with several backends and compare them with the reference");
  cmd->footer(
      "Each backend's store is written to DIR/<backend>.parquet and measured against the FP16 reference\n"
      "(the input if it is an llmc store, else DIR/reference-f16.parquet converted from it) on the same\n"
      "evaluation windows: size, bits/weight, ratio, PPL and its increase, logits cosine, KL, top-1, prefill\n"
      "and decode tokens/s, quantize time. Backend names: ptq-int8|int4|int2, gptq-2bit|3bit|4bit,\n"
      "angelslim-2bit; append @BPW for sensitivity-driven mixed precision (angelslim-2bit@2.5).\n"
      "Calibration text must not be the evaluation text.");
  cmd->add_option("--input", args->input, "HuggingFace directory, GGUF file or llmc store")->required();
  cmd->add_option("--backends", args->backends, "Comma-separated backends")->capture_default_str();
  cmd->add_option("--text", args->text, "Evaluation text")->required();
  cmd->add_option("--calibration-data", args->calibration_data, "Calibration text for gptq/angelslim (.txt or .jsonl)");
  cmd->add_option("--calib-samples", args->calib_samples, "Calibration sequences")->capture_default_str();
  cmd->add_option("--calib-seq-len", args->calib_seq_len, "Tokens per calibration sequence")->capture_default_str();
  cmd->add_option("--output-dir", args->output_dir, "Where the stores and the report go")->required();
  AddWindowFlags(cmd, args->windows);
  AddThreadsFlag(cmd, args->threads);
  AddJsonFlag(cmd, g);
  run = [args, &g] { return RunCompare(*args, g); };
  return cmd;
});

}  // namespace
}  // namespace llmc::cli
