// `llmc inspect`: what a store holds — format, architecture, tensors, size and bits per weight —
// read from the footer and the index columns only; --verify loads every tensor and checks it.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "cli/command.h"
#include "llmc/file.h"
#include "llmc/progress.h"
#include "llmc/store.h"

namespace llmc::cli {
namespace {

struct InspectArgs {
  std::string path;
  bool tensors = false;
  bool verify = false;
  std::string tensor;  // show one tensor's values
};

constexpr const char* kFooter = R"(Bits per weight count everything a tensor stores: codes, fp16 scales and zero points.
The ratio vs FP16 is 16 / (bits per weight over all tensors). --verify reads every tensor (all held in
memory at once, as a model run would), checks its byte counts and CRC-32, and reports the peak
resident memory of the process against the file size.

Examples:
  llmc inspect smol-f16.parquet
  llmc inspect smol-int4.parquet --tensors
  llmc inspect smol-int4.parquet --verify --json
  llmc inspect smol-int4.parquet --tensor model.layers.0.mlp.down_proj.weight)";

struct Totals {
  int64_t parameters = 0;
  int64_t stored_bytes = 0;
  double bits_per_weight() const {
    return parameters == 0 ? 0 : 8.0 * static_cast<double>(stored_bytes) / static_cast<double>(parameters);
  }
};

Totals Sum(const std::vector<TensorInfo>& infos) {
  Totals t;
  for (const TensorInfo& info : infos) {
    int64_t n = 1;
    for (int64_t d : info.shape) n *= d;
    t.parameters += n;
    t.stored_bytes += info.stored_bytes;
  }
  return t;
}

int64_t PeakRssBytes() {
  struct rusage usage {};
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<int64_t>(usage.ru_maxrss) * 1024;  // Linux reports kilobytes
}

struct VerifyResult {
  int64_t tensors = 0;
  double seconds = 0;
  int64_t peak_rss_bytes = 0;
};

// Loads every tensor and keeps them all alive until the peak is measured.
Result<VerifyResult> VerifyAll(WeightLoaderV2& loader) {
  const auto start = std::chrono::steady_clock::now();
  std::vector<WeightTensor> held;
  held.reserve(loader.tensors().size());
  ProgressBar bar("verify", static_cast<int64_t>(loader.tensors().size()));
  for (const TensorInfo& info : loader.tensors()) {
    bar.Tick(info.name);
    LLMC_ASSIGN_OR_RETURN(WeightTensor t, loader.Load(info.name));
    held.push_back(std::move(t));
  }
  VerifyResult r;
  r.tensors = static_cast<int64_t>(held.size());
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.peak_rss_bytes = PeakRssBytes();
  return r;
}

// One tensor's values after dequantization: enough to spot a broken conversion at a glance.
Result<nlohmann::json> TensorValues(WeightLoaderV2& loader, const std::string& name) {
  LLMC_ASSIGN_OR_RETURN(const WeightTensor t, loader.LoadDequantized(name, DType::kF32));
  const float* v = t.data.as<float>();
  const int64_t n = t.numel();
  double sum = 0, sum_sq = 0;
  float lo = n > 0 ? v[0] : 0, hi = lo;
  for (int64_t i = 0; i < n; ++i) {
    sum += v[i];
    sum_sq += static_cast<double>(v[i]) * v[i];
    lo = std::min(lo, v[i]);
    hi = std::max(hi, v[i]);
  }
  const double count = n > 0 ? static_cast<double>(n) : 1.0;
  return nlohmann::json{{"name", name},
                        {"shape", t.shape},
                        {"min", lo},
                        {"max", hi},
                        {"mean", sum / count},
                        {"rms", std::sqrt(sum_sq / count)},
                        {"first", std::vector<float>(v, v + std::min<int64_t>(n, 8))}};
}

nlohmann::json TensorJson(const TensorInfo& info) {
  nlohmann::json j = {{"name", info.name},
                      {"shape", info.shape},
                      {"type", info.type_name},
                      {"bytes", info.stored_bytes},
                      {"bits_per_weight", info.bits_per_weight}};
  if (info.encoding == Encoding::kQuantized) {
    j["group_size"] = info.quant.group_size;
    j["grid"] = QuantGridName(info.quant.grid);
  }
  return j;
}

void PrintText(const WeightLoaderV2& loader, const InspectArgs& args, int64_t file_bytes, const Totals& totals) {
  const StoreMetadata& meta = loader.metadata();
  const ModelConfig& c = meta.config;
  fmt::print("{}: llmc store, format {}.0\n", loader.path(), meta.format_version);
  fmt::print("  architecture  {} ({} layers, hidden {}, {} heads / {} kv heads, ffn {}, vocab {})\n",
             ArchitectureName(c.arch), c.num_layers, c.hidden_size, c.num_heads, c.num_kv_heads,
             c.intermediate_size, c.vocab_size);
  fmt::print("  tensors       {}\n", loader.tensors().size());
  fmt::print("  parameters    {:.2f}M\n", static_cast<double>(totals.parameters) / 1e6);
  fmt::print("  file size     {:.2f} MB ({} bytes)\n", static_cast<double>(file_bytes) / 1e6, file_bytes);
  fmt::print("  bits/weight   {:.3f} (scales and zero points included)\n", totals.bits_per_weight());
  fmt::print("  ratio vs FP16 {:.2f}x (16 / bits per weight)\n", totals.bits_per_weight() > 0 ? 16.0 / totals.bits_per_weight() : 0);
  if (meta.extra.contains("source")) fmt::print("  source        {}\n", meta.extra["source"].dump());
  if (!args.tensors) return;
  fmt::print("\n  {:<56} {:<16} {:<6} {:<13} {:>12} {:>8}\n", "name", "shape", "type", "groups", "bytes", "bits/w");
  for (const TensorInfo& info : loader.tensors()) {
    const std::string groups = info.encoding == Encoding::kQuantized
                                   ? fmt::format("g{} {}", info.quant.group_size, QuantGridName(info.quant.grid))
                                   : "-";
    fmt::print("  {:<56} {:<16} {:<6} {:<13} {:>12} {:>8.3f}\n", info.name, ShapeToString(info.shape),
               info.type_name, groups, info.stored_bytes, info.bits_per_weight);
  }
}

Status RunInspect(const InspectArgs& args, const GlobalOptions& global) {
  LLMC_ASSIGN_OR_RETURN(auto loader, WeightLoaderV2::Open(args.path));
  LLMC_ASSIGN_OR_RETURN(const int64_t file_bytes, FileSize(args.path));
  const Totals totals = Sum(loader->tensors());
  nlohmann::json values;
  if (!args.tensor.empty()) {
    LLMC_ASSIGN_OR_RETURN(values, TensorValues(*loader, args.tensor));
  }
  VerifyResult verify;
  if (args.verify) {
    LLMC_ASSIGN_OR_RETURN(verify, VerifyAll(*loader));
  }
  const double rss_ratio = file_bytes > 0 ? static_cast<double>(verify.peak_rss_bytes) / static_cast<double>(file_bytes) : 0;
  if (global.json) {
    const StoreMetadata& meta = loader->metadata();
    nlohmann::json j = {{"path", args.path},
                        {"format_version", std::to_string(meta.format_version) + ".0"},
                        {"architecture", ArchitectureName(meta.config.arch)},
                        {"config", meta.config.ToJson()},
                        {"extra", meta.extra},
                        {"tensors", loader->tensors().size()},
                        {"parameters", totals.parameters},
                        {"file_bytes", file_bytes},
                        {"stored_bytes", totals.stored_bytes},
                        {"bits_per_weight", totals.bits_per_weight()},
                        {"ratio_vs_fp16", totals.bits_per_weight() > 0 ? 16.0 / totals.bits_per_weight() : 0}};
    if (args.tensors) {
      j["tensor_list"] = nlohmann::json::array();
      for (const TensorInfo& info : loader->tensors()) j["tensor_list"].push_back(TensorJson(info));
    }
    if (!values.is_null()) j["tensor"] = values;
    if (args.verify) {
      j["verify"] = {{"ok", true},
                     {"tensors_loaded", verify.tensors},
                     {"seconds", verify.seconds},
                     {"peak_rss_bytes", verify.peak_rss_bytes},
                     {"peak_rss_vs_file", rss_ratio}};
    }
    PrintJson(j);
    return Status::OK();
  }
  PrintText(*loader, args, file_bytes, totals);
  if (!values.is_null()) {
    fmt::print("  tensor        {} {}: min {:.6g}, max {:.6g}, mean {:.6g}, rms {:.6g}; first {}\n",
               args.tensor, values["shape"].dump(), values["min"].get<double>(), values["max"].get<double>(),
               values["mean"].get<double>(), values["rms"].get<double>(), values["first"].dump());
  }
  if (args.verify) {
    fmt::print("  verify        ok: {} tensors, checksums match, {:.2f} s, peak RSS {:.1f} MB ({:.2f}x the file)\n",
               verify.tensors, verify.seconds, static_cast<double>(verify.peak_rss_bytes) / 1e6, rss_ratio);
  }
  return Status::OK();
}

const CommandRegistration kInspect("inspect", [](CLI::App& app, GlobalOptions& global,
                                                 std::function<Status()>& run) {
  auto args = std::make_shared<InspectArgs>();
  CLI::App* cmd = app.add_subcommand("inspect", "Show what an llmc store holds: format, tensors, bits per weight");
  cmd->footer(kFooter);
  cmd->add_option("store", args->path, "The llmc store (.parquet)")->required();
  cmd->add_flag("--tensors", args->tensors, "List every tensor: shape, type, bytes, bits per weight");
  cmd->add_flag("--verify", args->verify, "Load every tensor, check checksums, report peak resident memory");
  cmd->add_option("--tensor", args->tensor, "Show one tensor's values (dequantized): min, max, mean, rms, first 8");
  AddJsonFlag(cmd, global);
  run = [args, &global]() { return RunInspect(*args, global); };
  return cmd;
});

}  // namespace
}  // namespace llmc::cli
