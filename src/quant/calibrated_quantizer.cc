#include "quant/calibrated_quantizer.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "llmc/progress.h"
#include "llmc/store.h"
#include "llmc/tokenizer.h"
#include "quant/gptq.h"
#include "quant/sensitivity.h"

namespace llmc {

namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

void SetDefault(nlohmann::json& doc, const char* key, const nlohmann::json& value) {
  if (!doc.contains(key)) doc[key] = value;
}

GptqOptions GptqOptionsFor(const QuantizationConfig& config, const QuantSpec& spec) {
  GptqOptions o;
  o.spec = spec;
  o.block_size = config.gptq.block_size;
  o.damp = config.gptq.damp;
  o.act_order = config.gptq.act_order;
  o.static_groups = config.gptq.static_groups;
  o.mse_clip = config.mse_clip;
  o.activation_aware = config.activation_aware;
  return o;
}

// The Hessians of one layer, one per distinct input: weights that read the same input (q/k/v,
// gate/up — the observer sees the same data for each, one call per weight) share one accumulator,
// fed only by the first of them.
class LayerHessians {
 public:
  explicit LayerHessians(const std::vector<std::string>& names) {
    for (const auto& n : names) slot_.emplace(n, -1);
  }

  void Observe(const std::string& name, const float* x, int64_t n, int64_t cols) {
    auto it = slot_.find(name);
    if (it == slot_.end()) return;
    if (it->second < 0) {
      // First sample: remember this input's data, since its buffer may be reused by the next one.
      it->second = SlotForNewWeight(name, x, n, cols);
      prev_input_.assign(x, x + n * cols);
      prev_n_ = n;
      prev_cols_ = cols;
      prev_slot_ = it->second;
    }
    if (feeder_[it->second] == name) accs_[it->second]->Add(x, n);
  }

  const HessianAccumulator* Of(const std::string& name) const {
    auto it = slot_.find(name);
    return it == slot_.end() || it->second < 0 ? nullptr : accs_[it->second].get();
  }

 private:
  // The previous weight's accumulator when this input is the same data, else a new one.
  int SlotForNewWeight(const std::string& name, const float* x, int64_t n, int64_t cols) {
    const bool same_input = prev_slot_ >= 0 && n == prev_n_ && cols == prev_cols_ &&
                            std::memcmp(x, prev_input_.data(), sizeof(float) * n * cols) == 0;
    if (same_input) return prev_slot_;
    accs_.push_back(std::make_unique<HessianAccumulator>(cols));
    feeder_.push_back(name);
    return static_cast<int>(accs_.size()) - 1;
  }

  std::map<std::string, int> slot_;  // weight → accumulator index (-1: not seen yet)
  std::vector<std::unique_ptr<HessianAccumulator>> accs_;
  std::vector<std::string> feeder_;  // the weight whose observations feed each accumulator
  std::vector<float> prev_input_;  // the last new weight's input (first sample only)
  int64_t prev_n_ = 0;
  int64_t prev_cols_ = 0;
  int prev_slot_ = -1;
};

const TensorPlan* FindPlan(const std::vector<TensorPlan>& plan, const std::string& name) {
  for (const auto& p : plan) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

const TensorSource* FindSource(const ImportedModel& source, const std::string& name) {
  for (const auto& t : source.tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

// One linear weight from its statistics: GPTQ for 2/3/4 bits, RTN (importance-weighted when
// activation_aware) for 8 bits, where GPTQ has nothing left to gain. The Hessian is prepared on first
// use and kept in `prepared` for the other weights that read the same input (damp and act_order are
// per config, so one preparation serves every bit width).
Result<CalibratedTensor> QuantizeLinear(const WeightTensor& original, const HessianAccumulator& stats,
                                        std::map<const HessianAccumulator*, GptqHessian>& prepared,
                                        const QuantizationConfig& config, const QuantSpec& spec) {
  CalibratedTensor out;
  if (spec.bits == 8) {
    RtnOptions rtn;
    rtn.mse_clip = config.mse_clip;
    const std::vector<float> importance = stats.Importance();
    if (config.activation_aware) rtn.importance = importance;
    LLMC_ASSIGN_OR_RETURN(out.tensor, QuantizeRtn(original, spec, rtn));
    out.method = "rtn";
    return out;
  }
  const GptqOptions options = GptqOptionsFor(config, spec);
  auto it = prepared.find(&stats);
  if (it == prepared.end()) {
    LLMC_ASSIGN_OR_RETURN(GptqHessian h, GptqHessian::Prepare(original.name, stats.Hessian(),
                                                              stats.cols(), options));
    it = prepared.emplace(&stats, std::move(h)).first;
  }
  LLMC_ASSIGN_OR_RETURN(GptqResult r, QuantizeGptq(original, it->second, options));
  out.tensor = std::move(r.tensor);
  out.method = "gptq";
  out.output_rel_error = r.stats.output_rel_error;
  out.damp = r.stats.damp;
  return out;
}

// Quantizes the weights of one stage of `layer` (names) from their statistics and swaps them into the
// model, so the next stages see their outputs.
Status QuantizeStageWeights(Model& model, int64_t layer, std::span<const std::string> names,
                            const ImportedModel& source, const LayerHessians& hessians,
                            const QuantizationConfig& config, const std::vector<TensorPlan>& plan,
                            CalibratedLayers& out) {
  std::map<const HessianAccumulator*, GptqHessian> prepared;  // one per distinct input of the stage
  for (const std::string& name : names) {
    const TensorPlan* p = FindPlan(plan, name);
    if (p == nullptr || !p->quantize) continue;  // kept dense by the plan
    const TensorSource* src = FindSource(source, name);
    const HessianAccumulator* stats = hessians.Of(name);
    if (src == nullptr || stats == nullptr) {
      return Status::Internal("layer {}: weight '{}' has no {}", layer, name, src == nullptr ? "source" : "statistics");
    }
    auto original = src->load();
    if (!original.ok()) return original.status().WithContext("loading tensor '" + name + "'");
    auto q = QuantizeLinear(*original, *stats, prepared, config, p->spec);
    if (!q.ok()) return q.status().WithContext(fmt::format("layer {}", layer));
    LLMC_RETURN_IF_ERROR(model.ReplaceWeight(q->tensor));
    out.tensors[name] = std::move(q).value();
  }
  return Status::OK();
}

}  // namespace

nlohmann::json WithCalibratedBackendDefaults(nlohmann::json doc) {
  const std::string backend = doc.value("backend", std::string());
  if (backend == "gptq") {
    SetDefault(doc, "grid", "sym_half");
  } else if (backend == "angelslim") {
    SetDefault(doc, "bits", 2);
    SetDefault(doc, "grid", "sym_half");
    SetDefault(doc, "group_size", 128);
    nlohmann::json gptq = doc.value("gptq", nlohmann::json::object());
    if (gptq.is_object()) {
      SetDefault(gptq, "block_size", 128);
      SetDefault(gptq, "act_order", true);
      SetDefault(gptq, "static_groups", true);
      doc["gptq"] = gptq;
    }
  }
  return doc;
}

Result<std::unique_ptr<Model>> OpenCalibrationModel(const ImportedModel& source) {
  const std::vector<std::string> required = RequiredTensorNames(source.config);
  std::vector<WeightTensor> tensors;
  for (const TensorSource& t : source.tensors) {
    if (std::find(required.begin(), required.end(), t.name) == required.end() && t.name != kLmHeadName) {
      continue;
    }
    auto loaded = t.load();
    if (!loaded.ok()) return loaded.status().WithContext("loading tensor '" + t.name + "'");
    tensors.push_back(ToDense(*loaded, t.shape.size() < 2 ? DType::kF32 : DType::kF16));
  }
  return Model::FromTensors(source.config, source.tokenizer, std::move(tensors));
}

Result<CalibrationSet> LoadCalibrationSet(const ImportedModel& source, const QuantizationConfig& config) {
  if (config.calibration.data.empty()) {
    return Status::Invalid("backend '{}' needs calibration text: pass --calibration-data FILE (or calibration.data)",
                           config.backend);
  }
  LLMC_ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tokenizer, Tokenizer::FromSpec(source.tokenizer));
  CalibrationOptions options;
  options.samples = config.calibration.samples;
  options.seq_len = config.calibration.seq_len;
  return LoadCalibrationData(config.calibration.data, *tokenizer, DetectChatFormat(source.tokenizer), options);
}

nlohmann::json CalibratedLayers::ToJson() const {
  nlohmann::json per_tensor = nlohmann::json::object();
  for (const auto& [name, t] : tensors) {
    per_tensor[name] = {{"method", t.method}, {"type", t.tensor.type_name()}};
    if (t.method == "gptq") {
      per_tensor[name]["output_rel_error"] = t.output_rel_error;
      per_tensor[name]["damp"] = t.damp;
    }
  }
  return {{"samples", samples},
          {"tokens", tokens},
          {"forward_seconds", forward_seconds},
          {"hessian_seconds", hessian_seconds},
          {"quantize_seconds", quantize_seconds},
          {"tensors", std::move(per_tensor)}};
}

Result<CalibratedLayers> QuantizeLayersGptq(Model& model, const ImportedModel& source, const CalibrationSet& calib,
                                            const QuantizationConfig& config, const std::vector<TensorPlan>& plan) {
  CalibratedLayers out;
  out.samples = static_cast<int64_t>(calib.samples.size());
  out.tokens = calib.total_tokens();
  const int64_t hidden_size = model.config().hidden_size;
  std::vector<std::vector<float>> hidden(calib.samples.size());
  for (size_t s = 0; s < calib.samples.size(); ++s) {
    hidden[s].resize(calib.samples[s].size() * hidden_size);
    model.Embed(calib.samples[s], hidden[s].data());
  }
  const int64_t layers = model.config().num_layers;
  ProgressBar bar("gptq", layers);
  for (int64_t layer = 0; layer < layers; ++layer) {
    // True sequential: each stage of the layer (q/k/v, o, gate/up, down) is quantized from the
    // inputs the already-quantized stages before it produce, then runs quantized.
    LayerHessians hessians(model.LinearWeightNames(layer));
    double hessian_seconds = 0;
    double quantize_seconds = 0;
    model.SetLinearInputObserver([&](const std::string& name, const float* x, int64_t n, int64_t cols) {
      const auto t = Clock::now();
      hessians.Observe(name, x, n, cols);
      hessian_seconds += SecondsSince(t);
    });
    const auto start = Clock::now();
    const Status st = model.ForwardLayerStaged(layer, hidden, [&](std::span<const std::string> names) {
      const auto t = Clock::now();
      const Status quantized = QuantizeStageWeights(model, layer, names, source, hessians, config, plan, out);
      quantize_seconds += SecondsSince(t);
      return quantized;
    });
    model.SetLinearInputObserver(nullptr);
    LLMC_RETURN_IF_ERROR(st);
    out.hessian_seconds += hessian_seconds;
    out.quantize_seconds += quantize_seconds;
    out.forward_seconds += SecondsSince(start) - hessian_seconds - quantize_seconds;
    bar.Tick(fmt::format("layer {}", layer));
  }
  return out;
}

Result<CalibratedReport> QuantizeCalibrated(const ImportedModel& source, const QuantizationConfig& config,
                                            std::vector<TensorPlan> plan, const std::string& output) {
  const auto start = Clock::now();
  LLMC_ASSIGN_OR_RETURN(CalibrationSet calib, LoadCalibrationSet(source, config));
  LLMC_ASSIGN_OR_RETURN(std::unique_ptr<Model> model, OpenCalibrationModel(source));
  CalibratedReport result;
  if (config.target_bpw) {
    LLMC_ASSIGN_OR_RETURN(BitAllocation allocation, AllocateBitsForTarget(*model, calib, config, plan));
    result.calibration["bit_allocation"] = allocation.ToJson();
  }
  const TensorQuantizer rtn = RtnQuantizer(config);
  // The token embedding as it will be stored before any layer is calibrated: layer 0 then sees the
  // quantized model's inputs, as every later layer does.
  for (const TensorPlan& p : plan) {
    if (p.name != kTokenEmbeddingName || !p.quantize) continue;
    LLMC_ASSIGN_OR_RETURN(WeightTensor embedding, rtn(model->Weight(p.name), p));
    LLMC_RETURN_IF_ERROR(model->ReplaceWeight(std::move(embedding)));
  }
  LLMC_ASSIGN_OR_RETURN(CalibratedLayers layers, QuantizeLayersGptq(*model, source, calib, config, plan));
  for (TensorPlan& p : plan) {
    auto it = layers.tensors.find(p.name);
    if (it != layers.tensors.end()) p.rule += " · " + it->second.method;
  }
  // QuantizeModel writes the store: the GPTQ tensors as computed, everything else by RTN/dense.
  const TensorQuantizer quantizer = [&](const WeightTensor& dense, const TensorPlan& p) -> Result<WeightTensor> {
    auto it = layers.tensors.find(p.name);
    if (it != layers.tensors.end()) return it->second.tensor;
    return rtn(dense, p);
  };
  LLMC_ASSIGN_OR_RETURN(result.report, QuantizeModel(source, config, plan, quantizer, output));
  result.report.seconds = SecondsSince(start);
  nlohmann::json layers_json = layers.ToJson();
  for (auto& [key, value] : layers_json.items()) result.calibration[key] = value;
  result.calibration["data"] = config.calibration.data;
  return result;
}

}  // namespace llmc
