// Rotary position embedding in HuggingFace's rotate-half layout: pair (i, i + head_dim/2) of each
// head turns by position * inv_freq[i]. Llama-3 and linear RoPE scaling change inv_freq only.
#pragma once

#include <cstdint>
#include <vector>

#include "llmc/model_config.h"

namespace llmc {

class RopeTable {
 public:
  explicit RopeTable(const ModelConfig& config);
  // Rotates n_heads consecutive head vectors (head_dim floats each) for position `pos`.
  void Apply(float* heads, int64_t n_heads, int64_t pos) const;
  const std::vector<float>& inv_freq() const { return inv_freq_; }

 private:
  int64_t head_dim_;
  std::vector<float> inv_freq_;  // head_dim / 2 frequencies, float32 like transformers computes them
};

}  // namespace llmc
