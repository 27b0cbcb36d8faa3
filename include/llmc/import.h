// Import: HuggingFace checkpoints and GGUF files into WeightTensors with HF tensor names, plus the
// model config and tokenizer, so everything downstream sees one layout.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <vector>

#include "llmc/model_config.h"
#include "llmc/tensor.h"

namespace llmc {

// One tensor of a source checkpoint, loaded on demand so conversion streams tensor by tensor.
struct TensorSource {
  std::string name;            // HF naming, e.g. "model.layers.3.mlp.down_proj.weight"
  std::vector<int64_t> shape;  // [out, in] for 2-D weights
  std::string source_type;     // as found in the source: "F32", "BF16", "Q4_1", ...
  std::function<Result<WeightTensor>()> load;  // dense tensor (F32/F16/BF16 as stored; GGUF quant → F32)
};

struct ImportedModel {
  std::string source_path;
  std::string source_format;  // "safetensors" or "gguf"
  ModelConfig config;
  // Canonical tokenizer spec (docs/FORMAT.md, "Tokenizer"); the Tokenizer class builds from it.
  nlohmann::json tokenizer;
  std::vector<TensorSource> tensors;
};

// Opens a HuggingFace directory (config.json + model.safetensors or sharded with index) or a GGUF file.
Result<ImportedModel> ImportModel(const std::string& path);

}  // namespace llmc
