// `llmc quantize`: a checkpoint (HF directory, GGUF or llmc store) → a quantized V2 store, with a report
// of sizes and per-tensor errors. Flags are applied on top of --config as the same keys, then the whole
// config is validated before anything is read or written.
#include <memory>

#include <optional>

#include "cli/model_input.h"
#include "quant/backend.h"
#include "quant/calibrated_quantizer.h"
#include "quant/quantize_model.h"

namespace llmc::cli {
namespace {

struct QuantizeArgs {
  std::string input;
  std::string output;
  std::string config_file;
  std::string backend;
  int bits = 0;
  int64_t group_size = 0;
  bool sym = false;
  bool asym = false;
  std::string grid;
  bool no_mse_clip = false;
  int embedding_bits = 0;
  // The calibrated backends (gptq, angelslim).
  std::string calibration_data;
  int64_t calib_samples = 0;
  int64_t calib_seq_len = 0;
  double target_bpw = 0;
  bool act_order = false;
  double damp = 0;
  // --validate --text FILE: measure the result against the source.
  bool validate = false;
  std::string validate_text;
  WindowFlags windows;
};

constexpr const char* kFooter = R"(Types (bits per weight includes the fp16 scale of each group, and the
uint8 zero point on the asym grid; "rel" is the mean ‖W−Ŵ‖/‖W‖ over SmolLM2-135M's linear layers):
  int8  per channel, signed -127..127  8 + 16/row_length (8.03 at 576)      rel 0.009
  int4  group 128 / 64 / 32            4.125 / 4.25 / 4.5 (+1/16..1/4 asym)  rel 0.105 (0.118 without clipping)
  int2  group 128 / 64 / 32            2.125 / 2.25 / 2.5 (+1/16..1/4 asym)  rel 0.43  (0.72 without clipping)
Whole SmolLM2 store, int2 with the defaults: 21% of FP16 (its 8-bit embedding is 21% of the weights);
with --embedding-bits 2: 13.4%.
Grids: signed int2 = {-2,-1,0,1}*s, sym_half int2 = {-1.5,-0.5,0.5,1.5}*s, asym = s*(code - zero).
Norms and biases stay dense (dense_dtype, f16); model.embed_tokens / lm_head get embedding_bits (8).
MSE clipping (on by default for 2/4-bit) searches each group's scale for the least squared error.

Config file keys (YAML or JSON; flags override them): backend, bits, group_size, grid, mse_clip,
skip [patterns], overrides [{pattern, bits, group_size, grid}], embedding_bits, dense_dtype,
calibration {data, samples, seq_len}, gptq {block_size, damp, act_order, static_groups},
target_bpw, activation_aware. Patterns are globs ("*.mlp.*") or "re:" regular expressions.

Calibrated backends (GPTQ layer by layer on calibration text; 2, 3 or 4 bits, 8-bit tensors by RTN):
  --backend gptq       GPTQ, sym_half grid by default (int2 {-1.5,-0.5,0.5,1.5}*s: 2.125 bpw at group 128)
  --backend angelslim  AngelSlim's 2-bit recipe: sym_half grid, group 128, block 128, act_order
  --calibration-data FILE (.txt cut into windows; .jsonl with text/messages/input+output/conversations)
  --calib-samples 128 --calib-seq-len 512 --damp 0.01 --act-order
  --target-bpw 2.5     mixed precision: bits from {2,3,4,8} per tensor (linears and embeddings) by
                       measured sensitivity (KL of the logits with that weight alone at 2 bits);
                       the budget is the whole model's bits per weight, as inspect counts it

Example:
  llmc quantize --input SmolLM2.gguf --output smol-gptq2.parquet --backend gptq --bits 2 \
      --calibration-data wikitext2-valid-part1.txt
  llmc quantize --input SmolLM2.gguf --output smol-int4.parquet --bits 4 --group-size 64 --asym)";

// The config file's keys with the flags that were given written over them.
Result<nlohmann::json> ConfigDocument(const QuantizeArgs& a, const CLI::App& cmd) {
  nlohmann::json doc = nlohmann::json::object();
  if (!a.config_file.empty()) {
    LLMC_ASSIGN_OR_RETURN(doc, QuantizationConfig::ReadDocument(a.config_file));
  }
  if (cmd.count("--backend") > 0) doc["backend"] = a.backend;
  if (cmd.count("--bits") > 0) doc["bits"] = a.bits;
  if (cmd.count("--group-size") > 0) doc["group_size"] = a.group_size;
  if (a.sym) doc["grid"] = QuantGridName(QuantGrid::kSigned);
  if (a.asym) doc["grid"] = QuantGridName(QuantGrid::kAsymmetric);
  if (cmd.count("--grid") > 0) doc["grid"] = a.grid;
  if (a.no_mse_clip) doc["mse_clip"] = false;
  if (cmd.count("--embedding-bits") > 0) doc["embedding_bits"] = a.embedding_bits;
  if (cmd.count("--calibration-data") > 0) doc["calibration"]["data"] = a.calibration_data;
  if (cmd.count("--calib-samples") > 0) doc["calibration"]["samples"] = a.calib_samples;
  if (cmd.count("--calib-seq-len") > 0) doc["calibration"]["seq_len"] = a.calib_seq_len;
  if (cmd.count("--target-bpw") > 0) doc["target_bpw"] = a.target_bpw;
  if (a.act_order) doc["gptq"]["act_order"] = true;
  if (cmd.count("--damp") > 0) doc["gptq"]["damp"] = a.damp;
  doc = WithCalibratedBackendDefaults(std::move(doc));
  if (!doc.contains("bits")) return Status::Invalid("no bit width: pass --bits 8|4|2 or set 'bits' in --config");
  return doc;
}

// --validate: the result against its own source (held in fp16) on evaluation text.
Result<ValidationResult> ValidateResult(const ImportedModel& source, const QuantizeArgs& a) {
  if (source.tokenizer.is_null()) return Status::NotFound("{}: no tokenizer to read --text with", a.input);
  LLMC_ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tokenizer, Tokenizer::FromSpec(source.tokenizer));
  LLMC_ASSIGN_OR_RETURN(const std::vector<int32_t> tokens, TokenizeTextFile(*tokenizer, a.validate_text));
  LLMC_ASSIGN_OR_RETURN(std::unique_ptr<Model> reference, OpenCalibrationModel(source));
  LLMC_ASSIGN_OR_RETURN(std::unique_ptr<Model> candidate, Model::Open(a.output));
  return ValidateModels(*reference, *candidate, tokens, ToPerplexityOptions(a.windows, *tokenizer), {});
}

Status RunQuantize(const QuantizeArgs& a, const CLI::App& cmd, const GlobalOptions& global) {
  LLMC_ASSIGN_OR_RETURN(nlohmann::json doc, ConfigDocument(a, cmd));
  LLMC_ASSIGN_OR_RETURN(QuantizationConfig config, QuantizationConfig::FromJson(doc));
  LLMC_ASSIGN_OR_RETURN(ImportedModel source, OpenQuantizationSource(a.input));
  LLMC_ASSIGN_OR_RETURN(std::vector<TensorPlan> plan, PlanQuantization(config, ShapesOf(source)));
  nlohmann::json calibration;
  LLMC_ASSIGN_OR_RETURN(QuantizationReport report, QuantizeWithBackend(source, config, plan, a.output, &calibration));
  std::optional<ValidationResult> validation;
  if (a.validate) {
    LLMC_ASSIGN_OR_RETURN(validation, ValidateResult(source, a));
  }
  if (global.json) {
    nlohmann::json j = report.ToJson();
    j["config"] = config.ToJson();
    if (!calibration.is_null()) j["calibration"] = std::move(calibration);
    if (validation) j["validation"] = validation->ToJson();
    PrintJson(j);
  } else {
    fmt::print("{}", report.ToText());
    if (!calibration.is_null()) {
      fmt::print("  calibration: {} samples, {} tokens; forward {:.1f} s, hessians {:.1f} s, gptq {:.1f} s\n",
                 calibration["samples"].get<int64_t>(), calibration["tokens"].get<int64_t>(),
                 calibration["forward_seconds"].get<double>(), calibration["hessian_seconds"].get<double>(),
                 calibration["quantize_seconds"].get<double>());
    }
    if (validation) PrintValidation(*validation);
  }
  if (validation && !validation->passed) {
    return Status::FailedCheck("{}: misses the thresholds (cosine {:.4f}, PPL increase {:.2f} %)", a.output,
                               validation->logits_cosine, validation->ppl_increase_pct);
  }
  return Status::OK();
}

const CommandRegistration kQuantize("quantize", [](CLI::App& app, GlobalOptions& global,
                                                   std::function<Status()>& run) {
  auto args = std::make_shared<QuantizeArgs>();
  CLI::App* cmd = app.add_subcommand("quantize", "Quantize a model's weights (RTN PTQ, GPTQ) into a V2 store");
  cmd->footer(kFooter);
  cmd->add_option("--input", args->input, "HuggingFace directory, GGUF file or llmc store")->required();
  cmd->add_option("--output", args->output, "The quantized store to write (.parquet)")->required();
  cmd->add_option("--config", args->config_file, "QuantizationConfig as .yaml/.yml/.json; flags override it");
  cmd->add_option("--backend", args->backend, "ptq (round to nearest, default), gptq or angelslim (calibrated)");
  cmd->add_option("--bits", args->bits, "Bits per code: 8, 4 or 2");
  cmd->add_option("--group-size", args->group_size,
                  "Weights per scale along a row (default 128; 8-bit: one scale per output channel)");
  auto* sym = cmd->add_flag("--sym", args->sym, "Signed symmetric grid (int2 {-2,-1,0,1}); the default");
  auto* asym = cmd->add_flag("--asym", args->asym, "Asymmetric grid with a uint8 zero point per group");
  auto* grid = cmd->add_option("--grid", args->grid, "Grid by name: signed, asym or sym_half");
  sym->excludes(asym);
  grid->excludes(sym)->excludes(asym);
  cmd->add_flag("--no-mse-clip", args->no_mse_clip, "Plain round-to-nearest: no per-group clip search");
  cmd->add_option("--embedding-bits", args->embedding_bits,
                  "Bits for embed_tokens and lm_head: 2, 4, 8 (default) or 16 (keep dense)");
  cmd->add_option("--calibration-data", args->calibration_data, "gptq/angelslim: calibration text (.txt or .jsonl)");
  cmd->add_option("--calib-samples", args->calib_samples, "gptq/angelslim: calibration sequences (default 128)");
  cmd->add_option("--calib-seq-len", args->calib_seq_len, "gptq/angelslim: tokens per sequence (default 512)");
  cmd->add_option("--target-bpw", args->target_bpw,
                  "gptq/angelslim: mixed 2/3/4/8-bit by sensitivity to reach this bits/weight over the model");
  cmd->add_flag("--act-order", args->act_order, "gptq: quantize columns by descending activation energy");
  cmd->add_option("--damp", args->damp, "gptq/angelslim: Hessian dampening, fraction of its mean diagonal (0.01)");
  auto* validate = cmd->add_flag("--validate", args->validate,
                                 "Validate the result against the source on --text (exit 3 if it misses the bars)");
  auto* text = cmd->add_option("--text", args->validate_text, "--validate: evaluation text (never the calibration text)");
  validate->needs(text);
  text->needs(validate);
  AddWindowFlags(cmd, args->windows);
  AddJsonFlag(cmd, global);
  run = [args, cmd, &global]() { return RunQuantize(*args, *cmd, global); };
  return cmd;
});

}  // namespace
}  // namespace llmc::cli
