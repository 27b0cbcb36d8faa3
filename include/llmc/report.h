// The `llmc compare` report: one row per quantization backend, written as report.md, report.json
// and plot.svg (perplexity against bits per weight, one labelled point per backend).
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "llmc/status.h"

namespace llmc {

struct CompareRow {
  std::string backend;            // "ptq-int2", "gptq-2bit", ...
  int64_t file_bytes = 0;
  double bits_per_weight = 0;     // over all weights, scales and zero points included
  double ratio_vs_fp16 = 0;       // FP16 store bytes / this store's bytes
  double perplexity = 0;
  double perplexity_stderr = 0;
  double ppl_increase_pct = 0;
  double logits_cosine = 0;
  double kl_divergence = 0;
  double top1_agreement = 0;
  double prefill_tokens_per_s = 0;
  double decode_tokens_per_s = 0;
  double quantize_seconds = 0;
  bool passed = false;
  nlohmann::json ToJson() const;
};

struct CompareReport {
  std::string model;
  std::string eval_text;
  std::string calibration_text;
  std::string method;             // perplexity windowing, in words
  double reference_perplexity = 0;
  int64_t reference_bytes = 0;
  std::vector<CompareRow> rows;
  nlohmann::json ToJson() const;
  std::string ToMarkdown() const;
  // A self-contained SVG scatter plot: x = bits per weight, y = perplexity (reference as a dashed line).
  std::string ToSvg() const;
};

// Writes report.md, report.json and plot.svg into dir (each atomically).
Status WriteCompareReport(const CompareReport& report, const std::string& dir);

}  // namespace llmc
