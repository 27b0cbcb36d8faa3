#include "quant/sensitivity.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>

#include "llmc/kernels.h"
#include "llmc/progress.h"

namespace llmc {

namespace {

// Calibration tokens the sensitivities are measured on: enough to rank the weights, few enough that
// replaying the later layers and the LM head once per weight stays cheap.
constexpr int64_t kSensitivityTokens = 128;

// Index of `bits` in kBitLevels.
size_t LevelOf(int bits) {
  return static_cast<size_t>(std::find(std::begin(kBitLevels), std::end(kBitLevels), bits) - std::begin(kBitLevels));
}

// Modelled KL at b bits relative to 2 bits: each extra bit quarters the squared error.
double RelativeError(int bits) { return std::pow(4.0, -(bits - 2)); }

// The reference next-token distribution of one token: p = softmax(logits) as floats, with
// sum_v p·log p and sum_v p kept in double, so a KL against other logits needs one exp per entry.
struct BaseRow {
  double p_log_p = 0;
  double p_sum = 0;
};

// The first calibration tokens, as whole or truncated samples, with every layer's input cached.
struct Replay {
  std::vector<std::vector<int32_t>> segments;
  // [layer][segment] [n][hidden]; [num_layers]: the last layer's output, the head's input.
  std::vector<std::vector<std::vector<float>>> layer_inputs;
  std::vector<std::vector<float>> base_probs;   // [segment] [n][vocab]
  std::vector<std::vector<BaseRow>> base_rows;  // [segment] [n]
  int64_t tokens = 0;
};

// Logits of one segment after running layers [from, num_layers) on `hidden`.
Result<std::vector<float>> RunToLogits(Model& model, int64_t from, std::vector<float> hidden) {
  const ModelConfig& c = model.config();
  const int64_t n = static_cast<int64_t>(hidden.size()) / c.hidden_size;
  for (int64_t layer = from; layer < c.num_layers; ++layer) {
    LLMC_RETURN_IF_ERROR(model.ForwardLayer(layer, hidden.data(), n));
  }
  std::vector<float> logits(static_cast<size_t>(n * c.vocab_size));
  model.Head(hidden.data(), n, logits.data());
  return logits;
}

// Turns logits into the reference distribution (softmax in place) and its per-row sums.
std::vector<BaseRow> ToBaseDistribution(std::vector<float>& logits, int64_t vocab) {
  const auto rows = static_cast<int64_t>(logits.size()) / vocab;
  std::vector<BaseRow> out(static_cast<size_t>(rows));
#pragma omp parallel for schedule(static) num_threads(NumThreads())
  for (int64_t r = 0; r < rows; ++r) {
    float* row = logits.data() + r * vocab;
    const double log_z = LogSumExp(row, vocab);
    BaseRow& b = out[static_cast<size_t>(r)];
    for (int64_t v = 0; v < vocab; ++v) {
      const double log_p = row[v] - log_z;
      row[v] = static_cast<float>(std::exp(log_p));
      b.p_log_p += row[v] * log_p;
      b.p_sum += row[v];
    }
  }
  return out;
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
  r.layer_inputs.resize(static_cast<size_t>(c.num_layers + 1));
  for (const auto& seg : r.segments) {
    std::vector<float> hidden(seg.size() * c.hidden_size);
    model.Embed(seg, hidden.data());
    for (int64_t layer = 0; layer < c.num_layers; ++layer) {
      r.layer_inputs[layer].push_back(hidden);
      LLMC_RETURN_IF_ERROR(model.ForwardLayer(layer, hidden.data(), static_cast<int64_t>(seg.size())));
    }
    r.layer_inputs.back().push_back(std::move(hidden));
  }
  for (size_t s = 0; s < r.segments.size(); ++s) {
    LLMC_ASSIGN_OR_RETURN(std::vector<float> probs, RunToLogits(model, c.num_layers, r.layer_inputs.back()[s]));
    r.base_rows.push_back(ToBaseDistribution(probs, c.vocab_size));
    r.base_probs.push_back(std::move(probs));
  }
  return r;
}

// Where a changed tensor's effect starts: kFromEmbedding (the token embedding: segments are embedded
// again), a layer, or num_layers (the LM head alone).
constexpr int64_t kFromEmbedding = -1;

// Mean KL(base ‖ current) per token with the model as it is now, replayed from `from`.
Result<double> MeanKl(Model& model, const Replay& r, int64_t from) {
  const int64_t vocab = model.config().vocab_size;
  double kl = 0;
  for (size_t s = 0; s < r.segments.size(); ++s) {
    std::vector<float> hidden;
    if (from == kFromEmbedding) {
      hidden.resize(r.segments[s].size() * static_cast<size_t>(model.config().hidden_size));
      model.Embed(r.segments[s], hidden.data());
    } else {
      hidden = r.layer_inputs[static_cast<size_t>(from)][s];
    }
    LLMC_ASSIGN_OR_RETURN(const std::vector<float> logits,
                          RunToLogits(model, std::max<int64_t>(from, 0), std::move(hidden)));
    const std::vector<float>& p = r.base_probs[s];
    const auto rows = static_cast<int64_t>(p.size()) / vocab;
    // Per token, sum_v p (log p - log q) = sum p log p - sum p·logits + logsumexp(logits)·sum p; the
    // tokens in parallel, added in token order: the same total for every thread count.
    std::vector<double> token_kl(static_cast<size_t>(rows));
#pragma omp parallel for schedule(static) num_threads(NumThreads())
    for (int64_t t = 0; t < rows; ++t) {
      const float* row = logits.data() + t * vocab;
      const float* pt = p.data() + t * vocab;
      double p_dot_logits = 0;
      for (int64_t v = 0; v < vocab; ++v) p_dot_logits += static_cast<double>(pt[v]) * row[v];
      const BaseRow& b = r.base_rows[s][static_cast<size_t>(t)];
      token_kl[static_cast<size_t>(t)] = b.p_log_p - p_dot_logits + LogSumExp(row, vocab) * b.p_sum;
    }
    for (double k : token_kl) kl += k;
  }
  return std::max(0.0, kl / static_cast<double>(r.tokens));
}

// A planned spec at another width. Widths below 8 use the planned group size, or the config's when
// the plan is 8-bit (an embedding planned per channel); 8 bits keep the planned group when planned.
QuantSpec SpecAtBits(const QuantSpec& planned, int bits, const QuantizationConfig& config) {
  QuantSpec s = planned;
  s.bits = bits;
  if (planned.bits == 8 && bits < 8) s.group_size = config.group_size.value_or(kDefaultGroupSize);
  return s;
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

Status AssignBits(std::vector<BitChoice>& tensors, double fixed_bits, double total_weights, double target_bpw,
                  double& achieved_bpw) {
  const auto cost = [](const BitChoice& t, int bits) { return t.bpw[LevelOf(bits)] * static_cast<double>(t.numel); };
  double used = fixed_bits;
  for (BitChoice& t : tensors) {
    t.bits = 2;
    used += cost(t, 2);
  }
  const double budget = target_bpw * total_weights;
  if (used > budget * (1 + 1e-9)) {
    return Status::Invalid("target_bpw {} is below {:.4f}, the bits per weight with every tensor at 2 bits",
                           target_bpw, used / total_weights);
  }
  while (true) {
    double best_ratio = 0;
    BitChoice* best = nullptr;
    int best_bits = 0;
    for (BitChoice& t : tensors) {
      for (int b : kBitLevels) {
        if (b <= t.bits) continue;
        const double extra = cost(t, b) - cost(t, t.bits);
        if (used + extra > budget) continue;
        const double gain = t.sensitivity * (RelativeError(t.bits) - RelativeError(b));
        if (gain / extra > best_ratio) {
          best_ratio = gain / extra;
          best = &t;
          best_bits = b;
        }
      }
    }
    if (best == nullptr) break;
    used += cost(*best, best_bits) - cost(*best, best->bits);
    best->bits = best_bits;
  }
  achieved_bpw = total_weights > 0 ? used / total_weights : 0;
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
  const int64_t layers = model.config().num_layers;
  std::map<std::string, int64_t> replay_from = {{kTokenEmbeddingName, kFromEmbedding},
                                                {kLmHeadName, layers}};
  for (int64_t layer = 0; layer < layers; ++layer) {
    for (const std::string& name : model.LinearWeightNames(layer)) replay_from[name] = layer;
  }
  // The allocated tensors and their spec at each bit width; every other weight is fixed as planned.
  std::vector<std::vector<QuantSpec>> specs;
  std::vector<int64_t> from;
  double fixed_bits = 0, total_weights = 0;
  for (const TensorPlan& p : plan) {
    int64_t numel = 1;
    for (int64_t d : p.shape) numel *= d;
    total_weights += static_cast<double>(numel);
    const int64_t cols = p.shape.empty() ? 1 : p.shape.back();
    const auto it = replay_from.find(p.name);
    if (!p.quantize || it == replay_from.end()) {
      fixed_bits += static_cast<double>(numel) * (p.quantize ? BitsPerWeight(p.spec, cols) : 8.0 * DTypeSize(p.dense_dtype));
      continue;
    }
    BitChoice choice{p.name, numel, 0.0, 2, {}};
    specs.emplace_back();
    for (int bits : kBitLevels) {
      specs.back().push_back(SpecAtBits(p.spec, bits, config));
      choice.bpw.push_back(BitsPerWeight(specs.back().back(), cols));
    }
    out.tensors.push_back(std::move(choice));
    from.push_back(it->second);
  }
  ProgressBar bar("sensitivity", static_cast<int64_t>(out.tensors.size()));
  for (size_t t = 0; t < out.tensors.size(); ++t) {
    const WeightTensor original = model.Weight(out.tensors[t].name);
    RtnOptions rtn;
    rtn.mse_clip = config.mse_clip;
    LLMC_ASSIGN_OR_RETURN(WeightTensor q, QuantizeRtn(original, specs[t].front(), rtn));
    LLMC_RETURN_IF_ERROR(model.ReplaceWeight(std::move(q)));
    Result<double> kl = MeanKl(model, replay, from[t]);
    LLMC_RETURN_IF_ERROR(model.ReplaceWeight(original));
    if (!kl.ok()) return kl.status();
    out.tensors[t].sensitivity = *kl;
    bar.Tick(out.tensors[t].name);
  }
  LLMC_RETURN_IF_ERROR(AssignBits(out.tensors, fixed_bits, total_weights, out.target_bpw, out.achieved_bpw));
  for (size_t t = 0; t < out.tensors.size(); ++t) {
    const BitChoice& c = out.tensors[t];
    TensorPlan* p = FindPlan(plan, c.name);
    p->spec = specs[t][LevelOf(c.bits)];
    p->rule = fmt::format("target_bpw {} (KL {:.3g} at 2 bits)", out.target_bpw, c.sensitivity);
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

}  // namespace llmc
