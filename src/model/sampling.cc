// Next-token choice for generation: greedy, or temperature sampling over the top-k logits.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "llmc/kernels.h"
#include "llmc/model.h"

namespace llmc {

int32_t Sampler::Sample(std::span<const float> logits) {
  const auto vocab = static_cast<int64_t>(logits.size());
  if (vocab == 0) return -1;
  if (opts_.temperature <= 0.0) {
    return static_cast<int32_t>(ArgMax(logits.data(), vocab));
  }
  const int64_t k = opts_.top_k > 0 ? std::min(opts_.top_k, vocab) : vocab;
  std::vector<int32_t> ids(static_cast<size_t>(vocab));
  std::iota(ids.begin(), ids.end(), 0);
  // Ties broken by id, so the candidate order (and with it every draw) is fully determined.
  auto larger = [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); };
  std::partial_sort(ids.begin(), ids.begin() + k, ids.end(), larger);
  ids.resize(static_cast<size_t>(k));
  std::vector<double> weights(ids.size());
  const double top = logits[ids[0]];
  for (size_t i = 0; i < ids.size(); ++i) weights[i] = std::exp((logits[ids[i]] - top) / opts_.temperature);
  const double total = std::accumulate(weights.begin(), weights.end(), 0.0);
  // A uniform double from the raw 64-bit draw: identical on every standard library.
  const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53 * total;
  double cumulative = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    cumulative += weights[i];
    if (u < cumulative) return ids[i];
  }
  return ids.back();
}

}  // namespace llmc
