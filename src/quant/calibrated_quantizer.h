// The calibrated backends (`--backend gptq` and `--backend angelslim`): GPTQ layer by layer over the
// running model, fed by calibration text.
//
// Order of work: every calibration sample is embedded once; then each decoder layer i runs over all
// samples stage by stage, GPTQ's "true sequential" order (Model::ForwardLayerStaged):
//   1. the input of a stage's linears (q/k/v share one input and one Hessian; o; gate/up share one;
//      down) is observed for every sample;
//   2. those linears are quantized from the statistics (GPTQ; 8-bit ones by RTN) and swapped in;
//   3. the stage runs with the quantized weights, producing the next stage's input.
// So every linear sees inputs of the model quantized up to itself (layers 0..i−1 and the earlier
// stages of layer i), and runs once per sample: one forward pass in all.
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
  double forward_seconds = 0;  // the staged forward pass, without statistics and quantization
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
