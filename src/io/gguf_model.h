// A GGUF file of a llama / mistral / qwen2 / qwen3 model seen as the HuggingFace model it was
// converted from: config from the metadata, HF tensor names, and q/k rows back in HF order.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "io/gguf.h"
#include "llmc/model_config.h"
#include "llmc/status.h"
#include "llmc/tensor.h"

namespace llmc {

// {arch}.* and tokenizer.ggml.* metadata (and the tensor list, for biases and tying) -> ModelConfig.
Result<ModelConfig> ModelConfigFromGguf(const GgufFile& gguf);

// "blk.3.ffn_down.weight" -> "model.layers.3.mlp.down_proj.weight"; Unsupported for names with no
// HuggingFace counterpart, naming the tensor.
Result<std::string> HfTensorName(const std::string& gguf_name, int64_t num_layers);

// llama.cpp's HF->GGUF converter reorders the rows of each head of q_proj/k_proj for llama-family
// models (interleaved RoPE). Returns the head count to undo it with, or 0 when the tensor is stored
// in HF order (qwen2/qwen3 files, every other tensor).
int64_t PermutedHeadCount(const ModelConfig& config, const std::string& hf_name);

// Inverse of the converter's permutation: within each of n_heads heads, GGUF row 2j+i holds HF row
// i*(head_rows/2)+j. Works on any dense encoding (rows are moved as bytes).
Result<WeightTensor> UnpermuteHeadRows(const WeightTensor& w, int64_t n_heads);

// Every "tokenizer.*" key of the file with its value: the input TokenizerSpecFromGgufKeys expects.
nlohmann::json GgufTokenizerKeys(const GgufFile& gguf);

}  // namespace llmc
