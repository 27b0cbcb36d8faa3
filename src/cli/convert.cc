// `llmc convert`: a HuggingFace directory or a GGUF file into a V1 (dense) llmc store, tensor by
// tensor, so memory holds one source tensor at a time.
#include <chrono>
#include <memory>
#include <string>

#include "cli/command.h"
#include "llmc/file.h"
#include "llmc/import.h"
#include "llmc/progress.h"
#include "llmc/store.h"

namespace llmc::cli {
namespace {

constexpr const char* kLlmcVersion = "0.1.0";

struct ConvertArgs {
  std::string source;
  std::string output;
  std::string dtype = "f16";
  std::string compression = "none";
};

constexpr const char* kFooter = R"(SOURCE is a HuggingFace model directory (config.json, model.safetensors or a sharded
index, tokenizer files) or a GGUF file. Every tensor, norms and biases included, is stored as --dtype:
a source already in that dtype is copied bit for bit; other dense sources are rounded to nearest even;
GGUF quantized tensors (Q4_1, Q8_0, ...) are dequantized first. The store keeps the model config,
the tokenizer and where it came from (docs/FORMAT.md). Quantize it afterwards with `llmc quantize`.

Examples:
  llmc convert ../shared/models/stories260K -o stories.parquet --dtype f32
  llmc convert SmolLM2-135M-Instruct.Q4_1.gguf -o smol-f16.parquet
  llmc inspect smol-f16.parquet)";

struct ConvertSummary {
  int64_t tensors = 0;
  int64_t parameters = 0;
  int64_t bytes = 0;
  double seconds = 0;
};

Result<ConvertSummary> Convert(const ConvertArgs& args) {
  const auto start = std::chrono::steady_clock::now();
  LLMC_ASSIGN_OR_RETURN(const DType dtype, ParseDType(args.dtype));
  LLMC_ASSIGN_OR_RETURN(const ImportedModel model, ImportModel(args.source));
  StoreMetadata meta;
  meta.format_version = kStoreFormatV1;
  meta.config = model.config;
  meta.tokenizer = model.tokenizer;
  meta.extra = {{"source", model.source_path},
                {"source_format", model.source_format},
                {"llmc_version", kLlmcVersion},
                {"dtype", DTypeName(dtype)}};
  StoreWriteOptions options;
  options.compression = args.compression;
  LLMC_ASSIGN_OR_RETURN(auto writer, StoreWriter::Open(args.output, meta, options));
  ConvertSummary summary;
  {
    ProgressBar bar("convert", static_cast<int64_t>(model.tensors.size()));
    for (const TensorSource& source : model.tensors) {
      bar.Tick(source.name);
      LLMC_ASSIGN_OR_RETURN(const WeightTensor loaded, source.load());
      const WeightTensor stored = ToDense(loaded, dtype);
      LLMC_RETURN_IF_ERROR(writer->Write(stored));
      ++summary.tensors;
      summary.parameters += stored.numel();
    }
  }
  LLMC_RETURN_IF_ERROR(writer->Close());
  LLMC_ASSIGN_OR_RETURN(summary.bytes, FileSize(args.output));
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

Status RunConvert(const ConvertArgs& args, const GlobalOptions& global) {
  LLMC_ASSIGN_OR_RETURN(const ConvertSummary s, Convert(args));
  const double mb_per_s = s.seconds > 0 ? static_cast<double>(s.bytes) / 1e6 / s.seconds : 0;
  if (global.json) {
    PrintJson({{"source", args.source},
               {"output", args.output},
               {"dtype", args.dtype},
               {"format_version", "1.0"},
               {"tensors", s.tensors},
               {"parameters", s.parameters},
               {"bytes", s.bytes},
               {"seconds", s.seconds},
               {"mb_per_s", mb_per_s}});
  } else {
    fmt::print("wrote {}: {} tensors, {:.1f}M parameters, {:.1f} MB ({}) in {:.2f} s ({:.0f} MB/s)\n", args.output,
               s.tensors, static_cast<double>(s.parameters) / 1e6, static_cast<double>(s.bytes) / 1e6, args.dtype,
               s.seconds, mb_per_s);
  }
  return Status::OK();
}

const CommandRegistration kConvert("convert", [](CLI::App& app, GlobalOptions& global,
                                                 std::function<Status()>& run) {
  auto args = std::make_shared<ConvertArgs>();
  CLI::App* cmd = app.add_subcommand("convert", "Convert a HuggingFace directory or GGUF file into an llmc store");
  cmd->footer(kFooter);
  cmd->add_option("source", args->source, "HuggingFace model directory or .gguf file")->required();
  cmd->add_option("-o,--output", args->output, "The store to write (.parquet)")->required();
  cmd->add_option("--dtype", args->dtype, "Storage type of every tensor: f32, f16 or bf16")
      ->check(CLI::IsMember({"f32", "f16", "bf16"}))
      ->capture_default_str();
  cmd->add_option("--compression", args->compression, "Parquet page compression: none or zstd (weights barely compress)")
      ->check(CLI::IsMember({"none", "zstd"}))
      ->capture_default_str();
  AddJsonFlag(cmd, global);
  run = [args, &global]() { return RunConvert(*args, global); };
  return cmd;
});

}  // namespace
}  // namespace llmc::cli
