// Conversion: any supported checkpoint (HF directory, GGUF) → a V1 store, streaming tensor by tensor.
#pragma once

#include <string>

#include "llmc/dtype.h"
#include "llmc/status.h"
#include "llmc/version.h"

namespace llmc {

struct ConvertOptions {
  DType dtype = DType::kF16;
  std::string compression = "none";  // Parquet page compression: "none" or "zstd"
};

struct ConvertSummary {
  int64_t tensors = 0;
  int64_t parameters = 0;
  int64_t bytes = 0;
  double seconds = 0;
};

// Imports `source` and writes every tensor as opts.dtype into a V1 store at `output`, which appears
// only when the whole conversion succeeded. Progress bar per tensor.
Result<ConvertSummary> ConvertToStore(const std::string& source, const std::string& output, const ConvertOptions& opts);

}  // namespace llmc
