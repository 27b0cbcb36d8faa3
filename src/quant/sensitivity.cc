#include "quant/sensitivity.h"

#include <chrono>
#include <cmath>

#include "llmc/kernels.h"
#include "llmc/progress.h"

namespace llmc {

namespace {

// Calibration tokens the sensitivities are measured on: enough to rank the weights, few enough that
// replaying the later layers and the LM head once per weight stays cheap.
constexpr int64_t kSensitivityTokens = 128;
constexpr int kBitLevels[] = {2, 3, 4, 8};

// Modelled KL at b bits relative to 2 bits: each extra bit quarters the squared error.
double RelativeError(int bits) { return std::pow(4.0, -(bits - 2)); }

// The first calibration tokens, as whole or truncated samples, with every layer's input cached.
struct Replay {
  std::vector<std::vector<int32_t>> segments;
  std::vector<std::vector<std::vector<float>>> layer_inputs;  // [layer][segment] [n][hidden]
  std::vector<std::vector<float>> base_logprobs;              // [segment] [n][vocab]
  int64_t tokens = 0;
};

void LogSoftmaxRows(std::vector<float>& logits, int64_t vocab) {
  const auto rows = static_cast<int64_t>(logits.size()) / vocab;
#pragma omp parallel for schedule(static) num_threads(NumThreads())
  for (int64_t r = 0; r < rows; ++r) {
    float* row = logits.data() + r * vocab;
    float max = row[0];
    for (int64_t v = 1; v < vocab; ++v) max = std::max(max, row[v]);
    double sum = 0;
    for (int64_t v = 0; v < vocab; ++v) sum += std::exp(static_cast<double>(row[v] - max));
    const float log_z = max + static_cast<float>(std::log(sum));
    for (int64_t v = 0; v < vocab; ++v) row[v] -= log_z;
  }
}

// Log-probabilities of one segment after running layers [from, num_layers) on `hidden`.
Result<std::vector<float>> RunToLogprobs(Model& model, int64_t from, std::vector<float> hidden) {
  const ModelConfig& c = model.config();
  const int64_t n = static_cast<int64_t>(hidden.size()) / c.hidden_size;
  for (int64_t layer = from; layer < c.num_layers; ++layer) {
    LLMC_RETURN_IF_ERROR(model.ForwardLayer(layer, hidden.data(), n));
  }
  std::vector<float> logits(static_cast<size_t>(n * c.vocab_size));
  model.Head(hidden.data(), n, logits.data());
  LogSoftmaxRows(logits, c.vocab_size);
  return logits;
}

Result<Replay> PrepareReplay(Model& model, const CalibrationSet& calib) {
  const ModelConfig& c = model.config();
  Replay r;
  for (const auto& s : calib.samples) {
    if (r.tokens >= kSensitivityTokens) break;
    const int64_t n = std::min<int64_t>(static_cast<int64_t>(s.size()), kSensitivityTokens - r.tokens);
    r.segments.emplace_back(s.begin(), s.begin() + n);
    r.tokens += n;
  }
  r.layer_inputs.resize(static_cast<size_t>(c.num_layers));
  for (const auto& seg : r.segments) {
    std::vector<float> hidden(seg.size() * c.hidden_size);
    model.Embed(seg, hidden.data());
    for (int64_t layer = 0; layer < c.num_layers; ++layer) {
      r.layer_inputs[layer].push_back(hidden);
      LLMC_RETURN_IF_ERROR(model.ForwardLayer(layer, hidden.data(), static_cast<int64_t>(seg.size())));
    }
  }
  for (size_t s = 0; s < r.segments.size(); ++s) {
    LLMC_ASSIGN_OR_RETURN(std::vector<float> lp, RunToLogprobs(model, c.num_layers - 1, r.layer_inputs.back()[s]));
    r.base_logprobs.push_back(std::move(lp));
  }
  return r;
}

// Mean KL(base ‖ current) per token with the model as it is now, replayed from layer `from`.
Result<double> MeanKl(Model& model, const Replay& r, int64_t from) {
  const int64_t vocab = model.config().vocab_size;
  double kl = 0;
  for (size_t s = 0; s < r.segments.size(); ++s) {
    LLMC_ASSIGN_OR_RETURN(std::vector<float> lq, RunToLogprobs(model, from, r.layer_inputs[from][s]));
    const std::vector<float>& lp = r.base_logprobs[s];
    const auto rows = static_cast<int64_t>(lp.size()) / vocab;
    // Per-token sums in parallel, added in token order: the same total for every thread count.
    std::vector<double> token_kl(static_cast<size_t>(rows));
#pragma omp parallel for schedule(static) num_threads(NumThreads())
    for (int64_t t = 0; t < rows; ++t) {
      double sum = 0;
      for (int64_t v = t * vocab; v < (t + 1) * vocab; ++v) {
        sum += std::exp(static_cast<double>(lp[v])) * (static_cast<double>(lp[v]) - lq[v]);
      }
      token_kl[static_cast<size_t>(t)] = sum;
    }
    for (double k : token_kl) kl += k;
  }
  return std::max(0.0, kl / static_cast<double>(r.tokens));
}

TensorPlan* FindPlan(std::vector<TensorPlan>& plan, const std::string& name) {
  for (auto& p : plan) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

}  // namespace

double BitsPerWeight(const QuantSpec& spec, int64_t cols) {
  const int64_t groups = (cols + spec.group_size - 1) / spec.group_size;
  const int64_t row_bits = (cols * spec.bits + 7) / 8 * 8 + groups * (16 + (spec.grid == QuantGrid::kAsymmetric ? 8 : 0));
  return static_cast<double>(row_bits) / static_cast<double>(cols);
}

Status AssignBits(std::vector<BitChoice>& tensors, const std::vector<QuantSpec>& spec_of,
                  const std::vector<int64_t>& cols_of, double target_bpw, double& achieved_bpw) {
  auto cost = [&](size_t t, int bits) {
    QuantSpec s = spec_of[t];
    s.bits = bits;
    return BitsPerWeight(s, cols_of[t]) * static_cast<double>(tensors[t].numel);
  };
  double weights = 0, used = 0;
  for (size_t t = 0; t < tensors.size(); ++t) {
    tensors[t].bits = 2;
    weights += static_cast<double>(tensors[t].numel);
    used += cost(t, 2);
  }
  const double budget = target_bpw * weights;
  if (used > budget * (1 + 1e-9)) {
    return Status::Invalid("target_bpw {} is below {:.4f}, the bits per weight with every tensor at 2 bits",
                           target_bpw, used / weights);
  }
  while (true) {
    double best_ratio = 0;
    size_t best_t = tensors.size();
    int best_bits = 0;
    for (size_t t = 0; t < tensors.size(); ++t) {
      for (int b : kBitLevels) {
        if (b <= tensors[t].bits) continue;
        const double extra = cost(t, b) - cost(t, tensors[t].bits);
        if (used + extra > budget) continue;
        const double gain = tensors[t].sensitivity * (RelativeError(tensors[t].bits) - RelativeError(b));
        if (gain / extra > best_ratio) {
          best_ratio = gain / extra;
          best_t = t;
          best_bits = b;
        }
      }
    }
    if (best_t == tensors.size()) break;
    used += cost(best_t, best_bits) - cost(best_t, tensors[best_t].bits);
    tensors[best_t].bits = best_bits;
  }
  achieved_bpw = weights > 0 ? used / weights : 0;
  return Status::OK();
}

nlohmann::json BitAllocation::ToJson() const {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& t : tensors) {
    list.push_back({{"name", t.name}, {"bits", t.bits}, {"sensitivity_kl", t.sensitivity}});
  }
  return {{"target_bpw", target_bpw}, {"achieved_bpw", achieved_bpw}, {"tokens", tokens},
          {"seconds", seconds},       {"tensors", std::move(list)}};
}

Result<BitAllocation> AllocateBitsForTarget(Model& model, const CalibrationSet& calib,
                                            const QuantizationConfig& config, std::vector<TensorPlan>& plan) {
  const auto start = std::chrono::steady_clock::now();
  BitAllocation out;
  out.target_bpw = config.target_bpw.value_or(0);
  LLMC_ASSIGN_OR_RETURN(Replay replay, PrepareReplay(model, calib));
  out.tokens = replay.tokens;
  std::vector<QuantSpec> specs;
  std::vector<int64_t> cols;
  std::vector<int64_t> layer_of;
  for (int64_t layer = 0; layer < model.config().num_layers; ++layer) {
    for (const std::string& name : model.LinearWeightNames(layer)) {
      const TensorPlan* p = FindPlan(plan, name);
      if (p == nullptr || !p->quantize) continue;
      out.tensors.push_back({name, model.Weight(name).numel(), 0.0, 2});
      specs.push_back(p->spec);
      cols.push_back(model.Weight(name).cols());
      layer_of.push_back(layer);
    }
  }
  ProgressBar bar("sensitivity", static_cast<int64_t>(out.tensors.size()));
  for (size_t t = 0; t < out.tensors.size(); ++t) {
    const WeightTensor original = model.Weight(out.tensors[t].name);
    QuantSpec two_bit = specs[t];
    two_bit.bits = 2;
    RtnOptions rtn;
    rtn.mse_clip = config.mse_clip;
    LLMC_ASSIGN_OR_RETURN(WeightTensor q, QuantizeRtn(original, two_bit, rtn));
    LLMC_RETURN_IF_ERROR(model.ReplaceWeight(std::move(q)));
    Result<double> kl = MeanKl(model, replay, layer_of[t]);
    LLMC_RETURN_IF_ERROR(model.ReplaceWeight(original));
    if (!kl.ok()) return kl.status();
    out.tensors[t].sensitivity = *kl;
    bar.Tick(out.tensors[t].name);
  }
  LLMC_RETURN_IF_ERROR(AssignBits(out.tensors, specs, cols, out.target_bpw, out.achieved_bpw));
  for (const BitChoice& c : out.tensors) {
    TensorPlan* p = FindPlan(plan, c.name);
    p->spec.bits = c.bits;
    p->rule = fmt::format("target_bpw {} (KL {:.3g} at 2 bits)", out.target_bpw, c.sensitivity);
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

}  // namespace llmc
