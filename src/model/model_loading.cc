// Building a Model: which tensors an architecture needs, with which shapes, from a store or from
// tensors in memory. Every check names the tensor and says what was expected and what was found.
#include <functional>
#include <unordered_map>
#include <utility>

#include "core/huge_pages.h"
#include "llmc/kernels.h"
#include "llmc/quant.h"
#include "model/transformer.h"

namespace llmc {
namespace {

constexpr const char* kLmHead = "lm_head.weight";

struct ExpectedTensor {
  std::string name;
  std::vector<int64_t> shape;
};

std::vector<ExpectedTensor> ExpectedTensors(const ModelConfig& c) {
  const int64_t d = c.hidden_size;
  const int64_t q_dim = c.num_heads * c.head_dim;
  const int64_t kv_dim = c.num_kv_heads * c.head_dim;
  std::vector<ExpectedTensor> out = {{"model.embed_tokens.weight", {c.vocab_size, d}}};
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    out.push_back({p + "input_layernorm.weight", {d}});
    out.push_back({p + "self_attn.q_proj.weight", {q_dim, d}});
    out.push_back({p + "self_attn.k_proj.weight", {kv_dim, d}});
    out.push_back({p + "self_attn.v_proj.weight", {kv_dim, d}});
    if (c.attention_bias) {
      out.push_back({p + "self_attn.q_proj.bias", {q_dim}});
      out.push_back({p + "self_attn.k_proj.bias", {kv_dim}});
      out.push_back({p + "self_attn.v_proj.bias", {kv_dim}});
    }
    if (c.qk_norm) {
      out.push_back({p + "self_attn.q_norm.weight", {c.head_dim}});
      out.push_back({p + "self_attn.k_norm.weight", {c.head_dim}});
    }
    out.push_back({p + "self_attn.o_proj.weight", {d, q_dim}});
    out.push_back({p + "post_attention_layernorm.weight", {d}});
    out.push_back({p + "mlp.gate_proj.weight", {c.intermediate_size, d}});
    out.push_back({p + "mlp.up_proj.weight", {c.intermediate_size, d}});
    out.push_back({p + "mlp.down_proj.weight", {d, c.intermediate_size}});
  }
  out.push_back({"model.norm.weight", {d}});
  return out;
}

Status CheckTensor(const WeightTensor& t, const std::vector<int64_t>& shape) {
  if (t.shape != shape) {
    return Status::Invalid("tensor '{}': shape {} (expected {} for this model config)", t.name,
                           ShapeToString(t.shape), ShapeToString(shape));
  }
  return t.Validate();
}

// Checks the tensors against the config and keeps those the architecture uses.
Result<std::unique_ptr<Model>> Build(ModelConfig config, nlohmann::json tokenizer,
                                     std::unordered_map<std::string, WeightTensor> tensors) {
  LLMC_RETURN_IF_ERROR(config.Validate());
  std::unordered_map<std::string, WeightTensor> weights;
  for (const ExpectedTensor& e : ExpectedTensors(config)) {
    auto it = tensors.find(e.name);
    if (it == tensors.end()) {
      return Status::NotFound("tensor '{}' not found (a {} model with {} layers needs it)", e.name,
                              ArchitectureName(config.arch), config.num_layers);
    }
    LLMC_RETURN_IF_ERROR(CheckTensor(it->second, e.shape));
    weights.emplace(e.name, RuntimeForm(std::move(it->second)));
  }
  auto head = tensors.find(kLmHead);
  if (!config.tie_word_embeddings && head != tensors.end()) {
    LLMC_RETURN_IF_ERROR(CheckTensor(head->second, {config.vocab_size, config.hidden_size}));
    weights.emplace(kLmHead, RuntimeForm(std::move(head->second)));
  }
  return std::unique_ptr<Model>(
      std::make_unique<TransformerModel>(std::move(config), std::move(tokenizer), std::move(weights)));
}

// T in its RuntimeForm on huge pages, which decode streams faster. Tile order is written straight
// into the arena: through a heap copy, a large tensor (a PTQ store's 28 MB int8 LM head) would be
// held three times at once, loaded, reordered and placed.
WeightTensor Placed(WeightTensor t, WeightArena& arena) {
  if (t.shape.size() == 1) return arena.Place(RuntimeForm(std::move(t)));
  WeightTensor wide = WidenForMatMul(std::move(t));
  return TileOrderPays(wide) ? arena.PlaceInTileOrder(wide) : arena.Place(std::move(wide));
}

// Loads only the tensors the config needs (lm_head when untied and present) through `has` and
// `load`, then builds; errors are prefixed with `origin` (the store or checkpoint path).
Result<std::unique_ptr<Model>> LoadAndBuild(const ModelConfig& config, const nlohmann::json& tokenizer,
                                            const std::string& origin,
                                            const std::function<bool(const std::string&)>& has,
                                            const std::function<Result<WeightTensor>(const std::string&)>& load) {
  std::vector<std::string> names = RequiredTensorNames(config);
  if (!config.tie_word_embeddings && has(kLmHead)) names.emplace_back(kLmHead);
  std::unordered_map<std::string, WeightTensor> tensors;
  WeightArena arena;
  for (const std::string& name : names) {
    if (!has(name)) {
      return Status::NotFound("{}: tensor '{}' not found (a {} model with {} layers needs it)", origin, name,
                              ArchitectureName(config.arch), config.num_layers);
    }
    auto loaded = load(name);
    if (!loaded.ok()) return loaded.status().WithContext(origin);
    LLMC_RETURN_IF_ERROR(loaded->Validate().WithContext(origin));
    // In the model's form as it arrives (Build leaves it so), so that only one tensor is ever held
    // in both forms: widening all the 3-bit tensors after loading them would add their stored
    // bytes to the peak memory.
    tensors.emplace(name, Placed(std::move(loaded).value(), arena));
  }
  auto model = Build(config, tokenizer, std::move(tensors));
  if (!model.ok()) return model.status().WithContext(origin);
  return model;
}

}  // namespace

WeightTensor RuntimeForm(WeightTensor t) {
  if (t.shape.size() != 1) return PrepareForMatMul(std::move(t));
  if (t.encoding == Encoding::kF32) return t;
  std::vector<float> values = DequantizeToFloat(t);
  return MakeF32Tensor(std::move(t.name), std::move(t.shape), std::move(values));
}

std::vector<std::string> RequiredTensorNames(const ModelConfig& config) {
  std::vector<std::string> names;
  for (ExpectedTensor& e : ExpectedTensors(config)) names.push_back(std::move(e.name));
  return names;
}

Result<std::unique_ptr<Model>> Model::FromTensors(ModelConfig config, nlohmann::json tokenizer,
                                                  std::vector<WeightTensor> tensors) {
  std::unordered_map<std::string, WeightTensor> by_name;
  for (WeightTensor& t : tensors) {
    std::string name = t.name;
    if (!by_name.emplace(name, std::move(t)).second) {
      return Status::Invalid("tensor '{}' given twice", name);
    }
  }
  return Build(std::move(config), std::move(tokenizer), std::move(by_name));
}

Result<std::unique_ptr<Model>> Model::FromImported(const ImportedModel& imported) {
  std::unordered_map<std::string, const TensorSource*> sources;
  for (const TensorSource& s : imported.tensors) sources.emplace(s.name, &s);
  return LoadAndBuild(
      imported.config, imported.tokenizer, imported.source_path,
      [&](const std::string& name) { return sources.contains(name); },
      [&](const std::string& name) { return sources.at(name)->load(); });
}

Result<std::unique_ptr<Model>> Model::FromLoader(WeightLoaderV2& loader) {
  const StoreMetadata& meta = loader.metadata();
  return LoadAndBuild(
      meta.config, meta.tokenizer, loader.path(), [&](const std::string& name) { return loader.Has(name); },
      [&](const std::string& name) { return loader.Load(name); });
}

Result<std::unique_ptr<Model>> Model::Open(const std::string& store_path) {
  LLMC_ASSIGN_OR_RETURN(std::unique_ptr<WeightLoaderV2> loader, WeightLoaderV2::Open(store_path));
  return FromLoader(*loader);
}

}  // namespace llmc
