#include "quant/quantize_model.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>

#include "llmc/file.h"
#include "llmc/progress.h"

namespace llmc {

namespace {

using json = nlohmann::json;

constexpr int kDenseEmbeddingBits = 16;

bool IsEmbedding(const std::string& name) { return name == kTokenEmbeddingName || name == kLmHeadName; }

// Every pattern must match some tensor: a typo would otherwise silently quantize what the user meant to keep.
Status CheckPatternsMatch(const QuantizationConfig& config, const std::vector<TensorShape>& tensors) {
  std::vector<std::pair<std::string, std::string>> patterns;  // (key, pattern)
  for (size_t i = 0; i < config.skip.size(); ++i) patterns.emplace_back(fmt::format("skip[{}]", i), config.skip[i]);
  for (size_t i = 0; i < config.overrides.size(); ++i) {
    patterns.emplace_back(fmt::format("overrides[{}].pattern", i), config.overrides[i].pattern);
  }
  for (const auto& [key, pattern] : patterns) {
    bool matched = false;
    for (const auto& t : tensors) {
      LLMC_ASSIGN_OR_RETURN(matched, MatchesPattern(pattern, t.name));
      if (matched) break;
    }
    if (!matched) {
      return Status::Invalid("config: {} '{}' matches no tensor of the model ({} tensors, e.g. '{}')", key, pattern,
                             tensors.size(), tensors.empty() ? "" : tensors.front().name);
    }
  }
  return Status::OK();
}

TensorPlan DensePlan(const QuantizationConfig& config, const TensorShape& t, std::string rule) {
  TensorPlan p;
  p.name = t.name;
  p.shape = t.shape;
  p.dense_dtype = config.dense_dtype;
  p.rule = std::move(rule);
  return p;
}

Result<TensorPlan> PlanTensor(const QuantizationConfig& config, const TensorShape& t) {
  if (t.shape.size() < 2) return DensePlan(config, t, "1-D");
  const int64_t cols = t.shape.back();
  int64_t numel = 1;
  for (int64_t d : t.shape) numel *= d;
  if (numel == 0) return DensePlan(config, t, "empty");
  for (const auto& pattern : config.skip) {
    LLMC_ASSIGN_OR_RETURN(bool skipped, MatchesPattern(pattern, t.name));
    if (skipped) return DensePlan(config, t, fmt::format("skip '{}'", pattern));
  }
  const bool embedding = IsEmbedding(t.name);
  int bits = embedding ? config.embedding_bits : config.bits;
  std::string rule = embedding ? "embedding_bits" : "bits";
  std::optional<int64_t> group_size;
  std::optional<QuantGrid> grid;
  for (const auto& o : config.overrides) {
    LLMC_ASSIGN_OR_RETURN(bool applies, MatchesPattern(o.pattern, t.name));
    if (!applies) continue;
    if (o.bits) bits = *o.bits;
    if (o.group_size) group_size = *o.group_size;
    if (o.grid) grid = *o.grid;
    rule = fmt::format("override '{}'", o.pattern);
  }
  if (bits == kDenseEmbeddingBits) return DensePlan(config, t, rule);
  if (!group_size) {
    // 8-bit defaults to one scale per output channel; the top-level group size describes `bits`.
    const bool per_channel = bits == 8 && !(config.bits == 8 && config.group_size);
    group_size = per_channel ? cols : config.group_size.value_or(kDefaultGroupSize);
  }
  TensorPlan p = DensePlan(config, t, rule);
  p.quantize = true;
  p.spec = {bits, *group_size, grid.value_or(config.grid)};
  return p;
}

json ShapeJson(const std::vector<int64_t>& shape) { return json(shape); }

}  // namespace

json TensorPlan::ToJson() const {
  json j = {{"rule", rule}};
  if (quantize) {
    j["type"] = fmt::format("int{}", spec.bits);
    j["group_size"] = spec.group_size;
    j["grid"] = QuantGridName(spec.grid);
  } else {
    j["type"] = DTypeName(dense_dtype);
  }
  return j;
}

std::vector<TensorShape> ShapesOf(const ImportedModel& model) {
  std::vector<TensorShape> out;
  out.reserve(model.tensors.size());
  for (const auto& t : model.tensors) out.push_back({t.name, t.shape});
  return out;
}

Result<std::vector<TensorPlan>> PlanQuantization(const QuantizationConfig& config,
                                                 const std::vector<TensorShape>& tensors) {
  LLMC_RETURN_IF_ERROR(CheckPatternsMatch(config, tensors));
  std::vector<TensorPlan> plan;
  plan.reserve(tensors.size());
  for (const auto& t : tensors) {
    LLMC_ASSIGN_OR_RETURN(TensorPlan p, PlanTensor(config, t));
    plan.push_back(std::move(p));
  }
  return plan;
}

namespace {

bool IsParquetFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  char magic[4] = {};
  f.read(magic, 4);
  return f.gcount() == 4 && std::string(magic, 4) == "PAR1";
}

// An llmc store as an ImportedModel whose tensors load (and dequantize) from the store on demand.
Result<ImportedModel> OpenStoreSource(const std::string& path) {
  LLMC_ASSIGN_OR_RETURN(std::unique_ptr<WeightLoaderV2> opened, WeightLoaderV2::Open(path));
  std::shared_ptr<WeightLoaderV2> loader = std::move(opened);
  ImportedModel model;
  model.source_path = path;
  model.source_format = "llmc";
  model.config = loader->metadata().config;
  model.tokenizer = loader->metadata().tokenizer;
  for (const TensorInfo& info : loader->tensors()) {
    TensorSource src;
    src.name = info.name;
    src.shape = info.shape;
    src.source_type = info.type_name;
    src.load = [loader, name = info.name]() { return loader->LoadDequantized(name, DType::kF32); };
    model.tensors.push_back(std::move(src));
  }
  return model;
}

}  // namespace

Result<ImportedModel> OpenQuantizationSource(const std::string& path) {
  if (!IsDirectory(path) && !FileExists(path)) return Status::NotFound("{}: no such file or directory", path);
  if (!IsDirectory(path) && IsParquetFile(path)) return OpenStoreSource(path);
  return ImportModel(path);
}

TensorQuantizer RtnQuantizer(const QuantizationConfig& config) {
  RtnOptions options;
  options.mse_clip = config.mse_clip;
  return [options](const WeightTensor& dense, const TensorPlan& plan) { return QuantizeRtn(dense, plan.spec, options); };
}

TensorReport MeasureTensor(const WeightTensor& original, const WeightTensor& stored, const std::string& source_type,
                           const std::string& rule) {
  TensorReport r;
  r.name = stored.name;
  r.shape = stored.shape;
  r.source_type = source_type;
  r.stored_type = stored.type_name();
  r.rule = rule;
  r.numel = stored.numel();
  r.stored_bytes = static_cast<int64_t>(stored.data.size() + stored.scales.size() + stored.zero_points.size());
  // Row by row, so measuring costs two rows of memory rather than two more copies of the tensor.
  std::vector<float> a(static_cast<size_t>(stored.cols())), b(a.size());
  double aa = 0, bb = 0, ab = 0, diff = 0;
  for (int64_t row = 0; row < stored.rows(); ++row) {
    DequantizeRow(original, row, a.data());
    DequantizeRow(stored, row, b.data());
    for (size_t i = 0; i < a.size(); ++i) {
      aa += static_cast<double>(a[i]) * a[i];
      bb += static_cast<double>(b[i]) * b[i];
      ab += static_cast<double>(a[i]) * b[i];
      const double d = static_cast<double>(a[i]) - b[i];
      diff += d * d;
    }
  }
  // An all-zero original: exact when the copy is all zero too, otherwise entirely wrong.
  r.rel_error = aa > 0 ? std::sqrt(diff / aa) : (diff > 0 ? 1.0 : 0.0);
  r.cosine = aa > 0 && bb > 0 ? ab / std::sqrt(aa * bb) : (aa == bb ? 1.0 : 0.0);
  return r;
}

json TensorReport::ToJson() const {
  return {{"name", name},         {"shape", ShapeJson(shape)},   {"source_type", source_type},
          {"type", stored_type},  {"rule", rule},                {"numel", numel},
          {"bytes", stored_bytes}, {"bits_per_weight", numel > 0 ? 8.0 * stored_bytes / numel : 0.0},
          {"rel_error", rel_error}, {"cosine", cosine}};
}

int64_t QuantizationReport::total_weights() const {
  int64_t n = 0;
  for (const auto& t : tensors) n += t.numel;
  return n;
}

int64_t QuantizationReport::stored_bytes() const {
  int64_t n = 0;
  for (const auto& t : tensors) n += t.stored_bytes;
  return n;
}

double QuantizationReport::bits_per_weight() const {
  const int64_t n = total_weights();
  return n > 0 ? 8.0 * static_cast<double>(stored_bytes()) / static_cast<double>(n) : 0.0;
}

double QuantizationReport::ratio_vs_fp16() const {
  const int64_t n = total_weights();
  return n > 0 ? static_cast<double>(stored_bytes()) / (2.0 * static_cast<double>(n)) : 0.0;
}

json QuantizationReport::ToJson() const {
  json list = json::array();
  for (const auto& t : tensors) list.push_back(t.ToJson());
  return {{"input", input},
          {"output", output},
          {"backend", backend},
          {"tensors", std::move(list)},
          {"total_weights", total_weights()},
          {"stored_bytes", stored_bytes()},
          {"file_bytes", file_bytes},
          {"bits_per_weight", bits_per_weight()},
          {"ratio_vs_fp16", ratio_vs_fp16()},
          {"seconds", seconds}};
}

std::string QuantizationReport::ToText(size_t worst) const {
  std::map<std::string, std::pair<int, int64_t>> by_type;  // type -> (tensors, weights)
  for (const auto& t : tensors) {
    by_type[t.stored_type].first += 1;
    by_type[t.stored_type].second += t.numel;
  }
  std::string out = fmt::format("{} → {} ({}, {:.1f} s)\n", input, output, backend, seconds);
  for (const auto& [type, count] : by_type) {
    out += fmt::format("  {:<5} {:>4} tensors {:>12} weights\n", type, count.first, count.second);
  }
  out += fmt::format("  {} weights in {} bytes ({} on disk): {:.3f} bits/weight, {:.1f}% of FP16\n", total_weights(),
                     stored_bytes(), file_bytes, bits_per_weight(), 100.0 * ratio_vs_fp16());
  std::vector<const TensorReport*> sorted;
  for (const auto& t : tensors) sorted.push_back(&t);
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->rel_error > b->rel_error; });
  if (sorted.size() > worst) sorted.resize(worst);
  out += "  largest relative errors:\n";
  for (const auto* t : sorted) {
    out += fmt::format("    {:<48} {:<5} rel {:.4f} cos {:.5f}\n", t->name, t->stored_type, t->rel_error, t->cosine);
  }
  return out;
}

StoreMetadata QuantizedStoreMetadata(const ImportedModel& source, const QuantizationConfig& config,
                                     const std::vector<TensorPlan>& plan) {
  StoreMetadata meta;
  meta.format_version = kStoreFormatV2;
  meta.config = source.config;
  meta.tokenizer = source.tokenizer;
  json tensors = json::object();
  for (const auto& p : plan) tensors[p.name] = p.ToJson();
  meta.extra = {{"source", source.source_path},
                {"source_format", source.source_format},
                {"quantization", {{"config", config.ToJson()}, {"tensors", std::move(tensors)}}}};
  return meta;
}

Result<QuantizationReport> QuantizeModel(const ImportedModel& source, const QuantizationConfig& config,
                                         const std::vector<TensorPlan>& plan, const TensorQuantizer& quantizer,
                                         const std::string& output) {
  if (plan.size() != source.tensors.size()) {
    return Status::Internal("quantize: a plan of {} tensors for a model of {}", plan.size(), source.tensors.size());
  }
  const auto start = std::chrono::steady_clock::now();
  LLMC_ASSIGN_OR_RETURN(std::unique_ptr<StoreWriter> writer,
                        StoreWriter::Open(output, QuantizedStoreMetadata(source, config, plan)));
  QuantizationReport report;
  report.input = source.source_path;
  report.output = output;
  report.backend = config.backend;
  ProgressBar bar("quantize", static_cast<int64_t>(plan.size()));
  for (size_t i = 0; i < plan.size(); ++i) {
    const TensorSource& src = source.tensors[i];
    const TensorPlan& p = plan[i];
    if (src.name != p.name) {
      return Status::Internal("quantize: plan entry {} is '{}' but the model's tensor is '{}'", i, p.name, src.name);
    }
    auto loaded = src.load();
    if (!loaded.ok()) return loaded.status().WithContext("loading tensor '" + src.name + "'");
    auto stored = p.quantize ? quantizer(*loaded, p) : Result<WeightTensor>(ToDense(*loaded, p.dense_dtype));
    if (!stored.ok()) return stored.status();
    report.tensors.push_back(MeasureTensor(*loaded, *stored, src.source_type, p.rule));
    LLMC_RETURN_IF_ERROR(writer->Write(*stored));
    bar.Tick(src.name);
  }
  LLMC_RETURN_IF_ERROR(writer->Close());
  LLMC_ASSIGN_OR_RETURN(report.file_bytes, FileSize(output));
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace llmc
