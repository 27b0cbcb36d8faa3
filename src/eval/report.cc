#include "llmc/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "llmc/file.h"

namespace llmc {

nlohmann::json CompareRow::ToJson() const {
  return {{"backend", backend},
          {"file_bytes", file_bytes},
          {"bits_per_weight", bits_per_weight},
          {"ratio_vs_fp16", ratio_vs_fp16},
          {"perplexity", perplexity},
          {"perplexity_stderr", perplexity_stderr},
          {"ppl_increase_pct", ppl_increase_pct},
          {"logits_cosine", logits_cosine},
          {"kl_divergence", kl_divergence},
          {"top1_agreement", top1_agreement},
          {"prefill_tokens_per_s", prefill_tokens_per_s},
          {"decode_tokens_per_s", decode_tokens_per_s},
          {"quantize_seconds", quantize_seconds},
          {"passed", passed}};
}

nlohmann::json CompareReport::ToJson() const {
  nlohmann::json rows_json = nlohmann::json::array();
  for (const auto& r : rows) rows_json.push_back(r.ToJson());
  return {{"model", model},
          {"eval_text", eval_text},
          {"calibration_text", calibration_text},
          {"method", method},
          {"reference_perplexity", reference_perplexity},
          {"reference_bytes", reference_bytes},
          {"backends", rows_json}};
}

std::string CompareReport::ToMarkdown() const {
  std::string md = fmt::format(
      "# Quantization comparison: {}\n\nEvaluation text: `{}`  \nCalibration text: `{}`  \nPerplexity method: {}\n\n"
      "Reference (FP16): perplexity {:.4f}, {:.1f} MB\n\n"
      "| backend | size MB | bpw | × smaller than FP16 | PPL | PPL Δ % | cosine | KL | top-1 % | prefill tok/s | "
      "decode tok/s | quantize s | pass |\n"
      "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
      model, eval_text, calibration_text, method, reference_perplexity, static_cast<double>(reference_bytes) / 1e6);
  for (const auto& r : rows) {
    md += fmt::format("| {} | {:.1f} | {:.3f} | {:.2f} | {:.3f} ± {:.3f} | {:+.2f} | {:.4f} | {:.4f} | {:.1f} | {:.1f} | "
                      "{:.1f} | {:.1f} | {} |\n",
                      r.backend, static_cast<double>(r.file_bytes) / 1e6, r.bits_per_weight, r.ratio_vs_fp16,
                      r.perplexity, r.perplexity_stderr, r.ppl_increase_pct, r.logits_cosine, r.kl_divergence,
                      100 * r.top1_agreement, r.prefill_tokens_per_s, r.decode_tokens_per_s, r.quantize_seconds,
                      r.passed ? "yes" : "no");
  }
  md += "\nPass = logits cosine ≥ 0.95 and PPL increase ≤ 8 % (the design notes' bars).\n";
  return md;
}

namespace {

std::string EscapeXml(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace

std::string CompareReport::ToSvg() const {
  constexpr double kW = 720, kH = 480, kLeft = 70, kRight = 30, kTop = 40, kBottom = 60;
  double x_min = 16, x_max = 0, y_min = reference_perplexity, y_max = reference_perplexity;
  for (const auto& r : rows) {
    x_min = std::min(x_min, r.bits_per_weight);
    x_max = std::max(x_max, r.bits_per_weight);
    y_min = std::min(y_min, r.perplexity);
    y_max = std::max(y_max, r.perplexity);
  }
  if (rows.empty()) x_min = 0, x_max = 16;
  x_min = std::floor(x_min) - 0.5;
  x_max = std::ceil(x_max) + 0.5;
  // Log scale on perplexity: a 2-bit PTQ model can be orders of magnitude worse than the rest.
  const double ly_min = std::log(std::max(1e-9, y_min)) - 0.05, ly_max = std::log(std::max(1e-9, y_max)) + 0.05;
  auto px = [&](double x) { return kLeft + (x - x_min) / (x_max - x_min) * (kW - kLeft - kRight); };
  auto py = [&](double y) {
    return kH - kBottom - (std::log(std::max(1e-9, y)) - ly_min) / std::max(1e-9, ly_max - ly_min) * (kH - kTop - kBottom);
  };
  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" font-family=\"sans-serif\" "
      "font-size=\"12\">\n<rect width=\"{0}\" height=\"{1}\" fill=\"white\"/>\n"
      "<text x=\"{2}\" y=\"24\" font-size=\"15\">Perplexity vs bits per weight — {3}</text>\n",
      kW, kH, kLeft, EscapeXml(model));
  svg += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"black\"/>\n", kLeft, kH - kBottom,
                     kW - kRight);
  svg += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"black\"/>\n", kLeft, kTop, kH - kBottom);
  for (double x = std::ceil(x_min); x <= x_max; x += 1) {
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{:.0f}</text>\n", px(x),
                       kH - kBottom + 18, x);
  }
  for (int i = 0; i <= 5; ++i) {
    const double y = std::exp(ly_min + (ly_max - ly_min) * i / 5);
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\">{:.1f}</text>\n", kLeft - 6, py(y) + 4, y);
  }
  svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">bits per weight (scales included)</text>\n",
                     (kLeft + kW - kRight) / 2, kH - 15);
  svg += fmt::format("<text x=\"18\" y=\"{:.1f}\" transform=\"rotate(-90 18 {:.1f})\" text-anchor=\"middle\">"
                     "perplexity (log scale)</text>\n",
                     (kTop + kH - kBottom) / 2, (kTop + kH - kBottom) / 2);
  if (reference_perplexity > 0) {
    svg += fmt::format("<line x1=\"{0}\" y1=\"{1:.1f}\" x2=\"{2}\" y2=\"{1:.1f}\" stroke=\"gray\" stroke-dasharray=\"5,4\"/>"
                       "<text x=\"{3}\" y=\"{4:.1f}\" fill=\"gray\" text-anchor=\"end\">FP16 {5:.2f}</text>\n",
                       kLeft, py(reference_perplexity), kW - kRight, kW - kRight - 4, py(reference_perplexity) - 4,
                       reference_perplexity);
  }
  for (const auto& r : rows) {
    svg += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"5\" fill=\"{}\"/>"
                       "<text x=\"{:.1f}\" y=\"{:.1f}\">{} ({:.2f})</text>\n",
                       px(r.bits_per_weight), py(r.perplexity), r.passed ? "#2a9d4b" : "#d1495b",
                       px(r.bits_per_weight) + 8, py(r.perplexity) - 6, EscapeXml(r.backend), r.perplexity);
  }
  svg += "</svg>\n";
  return svg;
}

Status WriteCompareReport(const CompareReport& report, const std::string& dir) {
  if (!IsDirectory(dir)) return Status::NotFound("{}: output directory does not exist", dir);
  LLMC_RETURN_IF_ERROR(WriteFileAtomically(dir + "/report.json", report.ToJson().dump(2) + "\n"));
  LLMC_RETURN_IF_ERROR(WriteFileAtomically(dir + "/report.md", report.ToMarkdown()));
  return WriteFileAtomically(dir + "/plot.svg", report.ToSvg());
}

}  // namespace llmc
