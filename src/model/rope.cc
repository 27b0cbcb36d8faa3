#include "model/rope.h"

#include <atomic>
#include <cmath>
#include <numbers>

namespace llmc {
namespace {

// transformers' _compute_llama3_parameters: long wavelengths slow down by `factor`, short ones stay,
// the band between is interpolated smoothly.
float Llama3Frequency(float inv_freq, const RopeScaling& s) {
  const double low_freq_wavelen = static_cast<double>(s.original_max_position) / s.low_freq_factor;
  const double high_freq_wavelen = static_cast<double>(s.original_max_position) / s.high_freq_factor;
  const double wavelen = 2.0 * std::numbers::pi / inv_freq;
  if (wavelen > low_freq_wavelen) return static_cast<float>(inv_freq / s.factor);
  if (wavelen < high_freq_wavelen) return inv_freq;
  const double smooth = (s.original_max_position / wavelen - s.low_freq_factor) /
                        (s.high_freq_factor - s.low_freq_factor);
  return static_cast<float>((1.0 - smooth) * inv_freq / s.factor + smooth * inv_freq);
}

uint64_t NextTableId() {
  static std::atomic<uint64_t> last{0};
  return ++last;
}

}  // namespace

RopeTable::RopeTable(const ModelConfig& config) : id_(NextTableId()), head_dim_(config.head_dim) {
  const int64_t half = head_dim_ / 2;
  inv_freq_.resize(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) {
    const float exponent = static_cast<float>(2 * i) / static_cast<float>(head_dim_);
    float f = 1.0f / std::pow(static_cast<float>(config.rope_theta), exponent);
    if (config.rope_scaling.type == "linear") f = static_cast<float>(f / config.rope_scaling.factor);
    if (config.rope_scaling.type == "llama3") f = Llama3Frequency(f, config.rope_scaling);
    inv_freq_[static_cast<size_t>(i)] = f;
  }
}

const RopeTable::Angles& RopeTable::AnglesAt(int64_t pos) const {
  thread_local Angles angles;
  if (angles.table == id_ && angles.pos == pos) return angles;
  const size_t half = inv_freq_.size();
  angles.cos.resize(half);
  angles.sin.resize(half);
  for (size_t i = 0; i < half; ++i) {
    // The angle is a float32 product, as in transformers, so long positions round the same way.
    const float angle = inv_freq_[i] * static_cast<float>(pos);
    angles.cos[i] = static_cast<float>(std::cos(static_cast<double>(angle)));
    angles.sin[i] = static_cast<float>(std::sin(static_cast<double>(angle)));
  }
  angles.table = id_;
  angles.pos = pos;
  return angles;
}

void RopeTable::Apply(float* q, int64_t n_q, float* k, int64_t n_k, int64_t pos) const {
  const int64_t half = head_dim_ / 2;
  const Angles& angles = AnglesAt(pos);
  const std::vector<float>& cos_t = angles.cos;
  const std::vector<float>& sin_t = angles.sin;
  for (int64_t h = 0; h < n_q + n_k; ++h) {
    float* x = h < n_q ? q + h * head_dim_ : k + (h - n_q) * head_dim_;
    for (int64_t i = 0; i < half; ++i) {
      const float a = x[i];
      const float b = x[i + half];
      x[i] = a * cos_t[static_cast<size_t>(i)] - b * sin_t[static_cast<size_t>(i)];
      x[i + half] = b * cos_t[static_cast<size_t>(i)] + a * sin_t[static_cast<size_t>(i)];
    }
  }
}

}  // namespace llmc
