// One entry point for every quantization backend, so `quantize` and `compare` run them the same way.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "llmc/import.h"
#include "llmc/quant_config.h"
#include "quant/quantize_model.h"

namespace llmc {

// Runs config.backend ("ptq": RTN; "gptq"/"angelslim": calibrated, layer by layer) on `source` with
// `plan`, writing the V2 store at `output`. For the calibrated backends, `calibration` receives their
// summary (samples, tokens, timings, per-tensor errors); it stays null for ptq.
Result<QuantizationReport> QuantizeWithBackend(const ImportedModel& source, const QuantizationConfig& config,
                                               const std::vector<TensorPlan>& plan, const std::string& output,
                                               nlohmann::json* calibration);

}  // namespace llmc
