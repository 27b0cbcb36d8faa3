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
  // Rotates the n_q query and n_k key head vectors of one token (consecutive, head_dim floats each)
  // for position `pos`, with one table of angles for both.
  void Apply(float* q, int64_t n_q, float* k, int64_t n_k, int64_t pos) const;
  const std::vector<float>& inv_freq() const { return inv_freq_; }

 private:
  struct Angles {
    uint64_t table = 0;  // id_ of the table they were computed for (0: none)
    int64_t pos = -1;
    std::vector<float> cos, sin;
  };
  // The cos and sin of every angle at `pos`. Each layer of a decode step rotates at the same
  // position, so each thread keeps the last ones it computed (the double-precision sin and cos of
  // 32 angles took about a microsecond per layer).
  const Angles& AnglesAt(int64_t pos) const;

  uint64_t id_;  // unique per table (copies share it: same frequencies)
  int64_t head_dim_;
  std::vector<float> inv_freq_;  // head_dim / 2 frequencies, float32 like transformers computes them
};

}  // namespace llmc
