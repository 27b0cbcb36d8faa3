#include "quant/backend.h"

#include "quant/calibrated_quantizer.h"

namespace llmc {

Result<QuantizationReport> QuantizeWithBackend(const ImportedModel& source, const QuantizationConfig& config,
                                               const std::vector<TensorPlan>& plan, const std::string& output,
                                               nlohmann::json* calibration) {
  if (config.backend == "ptq") return QuantizeModel(source, config, plan, RtnQuantizer(config), output);
  LLMC_ASSIGN_OR_RETURN(CalibratedReport r, QuantizeCalibrated(source, config, plan, output));
  if (calibration != nullptr) *calibration = std::move(r.calibration);
  return std::move(r.report);
}

}  // namespace llmc
