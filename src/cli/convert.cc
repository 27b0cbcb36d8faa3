// `llmc convert`: a HuggingFace directory or a GGUF file into a V1 (dense) llmc store, tensor by
// tensor, so memory holds one source tensor at a time (ConvertToStore, src/store/convert.cc).
#include <memory>
#include <string>

#include "cli/command.h"
#include "llmc/convert.h"

namespace llmc::cli {
namespace {

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

Status RunConvert(const ConvertArgs& args, const GlobalOptions& global) {
  ConvertOptions options;
  LLMC_ASSIGN_OR_RETURN(options.dtype, ParseDType(args.dtype));
  options.compression = args.compression;
  LLMC_ASSIGN_OR_RETURN(const ConvertSummary s, ConvertToStore(args.source, args.output, options));
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
