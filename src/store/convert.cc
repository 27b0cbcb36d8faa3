// ConvertToStore: the body of `llmc convert` (and of `llmc compare`'s first step), one tensor in memory at a time.
#include "llmc/convert.h"

#include <chrono>

#include "llmc/file.h"
#include "llmc/import.h"
#include "llmc/progress.h"
#include "llmc/store.h"

namespace llmc {

Result<ConvertSummary> ConvertToStore(const std::string& source, const std::string& output,
                                      const ConvertOptions& opts) {
  const auto start = std::chrono::steady_clock::now();
  LLMC_ASSIGN_OR_RETURN(const ImportedModel model, ImportModel(source));
  StoreMetadata meta;
  meta.format_version = kStoreFormatV1;
  meta.config = model.config;
  meta.tokenizer = model.tokenizer;
  meta.extra = {{"source", model.source_path},
                {"source_format", model.source_format},
                {"llmc_version", kLlmcVersion},
                {"dtype", DTypeName(opts.dtype)}};
  StoreWriteOptions write_options;
  write_options.compression = opts.compression;
  LLMC_ASSIGN_OR_RETURN(auto writer, StoreWriter::Open(output, meta, write_options));
  ConvertSummary summary;
  {
    ProgressBar bar("convert", static_cast<int64_t>(model.tensors.size()));
    for (const TensorSource& tensor : model.tensors) {
      bar.Tick(tensor.name);
      LLMC_ASSIGN_OR_RETURN(const WeightTensor loaded, tensor.load());
      const WeightTensor stored = ToDense(loaded, opts.dtype);
      LLMC_RETURN_IF_ERROR(writer->Write(stored));
      ++summary.tensors;
      summary.parameters += stored.numel();
    }
  }
  LLMC_RETURN_IF_ERROR(writer->Close());
  LLMC_ASSIGN_OR_RETURN(summary.bytes, FileSize(output));
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

}  // namespace llmc
