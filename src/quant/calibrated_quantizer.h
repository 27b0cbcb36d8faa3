// The calibrated backends (`--backend gptq` and `--backend angelslim`): GPTQ layer by layer over the
// running model, fed by calibration text.
//
// Order of work: every calibration sample is embedded once; then for each decoder layer i
//   1. ForwardLayer(i) on a copy of the current hidden states, observing the input of each linear
//      (q/k/v read one input and share one Hessian; gate/up likewise);
//   2. every linear of layer i is quantized from those statistics (GPTQ; 8-bit ones by RTN) and
//      swapped into the model — all linears of the layer see inputs of the model quantized up to
//      layer i−1, as in GPTQ/AngelSlim (not re-collected after q/k/v are quantized);
//   3. ForwardLayer(i) again, in place, with the quantized weights: layer i+1 sees what the
//      quantized layers 0..i produce.
// Memory: the hidden states of the calibration set, one layer's Hessians, and the model held in fp16
// (never a full FP32 copy). Embeddings, lm_head and any other tensor follow the PTQ plan (RTN).
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "llmc/import.h"
#include "llmc/model.h"
#include "llmc/quant_config.h"
#include "quant/calibration_data.h"
#include "quant/quantize_model.h"

namespace llmc {

// The backend defaults, filled into a config document (before QuantizationConfig::FromJson) for the
// keys it does not set. gptq: the sym_half grid — measured on stories260K (int2, group 128, 128×256
// calibration tokens, tinystories-eval PPL): GPTQ sym_half 46.9 vs GPTQ asym 72.3 (RTN: 82.6 vs
// 215.9), with 1/8 bit less per weight (no zero points). angelslim: AngelSlim's 2-bit recipe —
// sym_half grid, group 128, block 128, act_order with static groups.
nlohmann::json WithCalibratedBackendDefaults(nlohmann::json doc);

// The source as a runnable model (weights converted to fp16; norms kept f32).
Result<std::unique_ptr<Model>> OpenCalibrationModel(const ImportedModel& source);

// The calibration text of config.calibration, tokenized with the source's tokenizer.
Result<CalibrationSet> LoadCalibrationSet(const ImportedModel& source, const QuantizationConfig& config);

struct CalibratedTensor {
  WeightTensor tensor;
  std::string method;          // "gptq" or "rtn" (8-bit)
  double output_rel_error = 0;  // ‖XΔᵀ‖²/‖XWᵀ‖² on the calibration inputs
  double damp = 0;
};

struct CalibratedLayers {
  std::map<std::string, CalibratedTensor> tensors;  // the decoder layers' linear weights
  int64_t samples = 0;
  int64_t tokens = 0;
  double forward_seconds = 0;  // ForwardLayer, both passes
  double hessian_seconds = 0;  // XᵀX accumulation
  double quantize_seconds = 0;
  nlohmann::json ToJson() const;
};

// Steps 1–3 above for every decoder layer; the model ends up holding the quantized weights.
Result<CalibratedLayers> QuantizeLayersGptq(Model& model, const ImportedModel& source, const CalibrationSet& calib,
                                            const QuantizationConfig& config, const std::vector<TensorPlan>& plan);

struct CalibratedReport {
  QuantizationReport report;
  nlohmann::json calibration;  // samples, tokens, timings, per-tensor GPTQ errors, bit choices
};

// The whole backend: model + calibration set, bit choice for target_bpw (sensitivity.h) when set,
// GPTQ over the layers, then the V2 store at `output` (QuantizeModel) with each tensor's choice in its
// plan rule ("llmc.extra").
Result<CalibratedReport> QuantizeCalibrated(const ImportedModel& source, const QuantizationConfig& config,
                                            std::vector<TensorPlan> plan, const std::string& output);

}  // namespace llmc
