// StoreWriter: one row group per tensor, written through AtomicOutput so an unfinished store never
// appears at the target path.
#include <arrow/io/file.h>
#include <arrow/util/key_value_metadata.h>
#include <parquet/arrow/writer.h>
#include <parquet/properties.h>

#include <exception>
#include <unordered_set>

#include "llmc/file.h"
#include "llmc/store.h"
#include "store/store_format.h"
#include "store/tensor_row.h"

namespace llmc {

namespace {

using store::FromArrow;

Result<arrow::Compression::type> ParseCompression(const std::string& name) {
  if (name == "none") return arrow::Compression::UNCOMPRESSED;
  if (name == "zstd") return arrow::Compression::ZSTD;
  return Status::Invalid("unknown store compression '{}' (expected none or zstd)", name);
}

// PLAIN, no dictionary, no statistics on the byte columns: statistics would copy a tensor's first
// bytes into the footer and a dictionary of one huge value only costs time.
std::shared_ptr<parquet::WriterProperties> WriterProperties(arrow::Compression::type codec) {
  parquet::WriterProperties::Builder b;
  b.disable_dictionary()
      ->encoding(parquet::Encoding::PLAIN)
      ->compression(codec)
      ->disable_statistics(store::kColWeightData)
      ->disable_statistics(store::kColScales)
      ->disable_statistics(store::kColZeroPoints)
      ->set_size_statistics_level(parquet::SizeStatisticsLevel::None);
  return b.build();
}

std::shared_ptr<arrow::KeyValueMetadata> FileMetadata(const StoreMetadata& meta) {
  auto kv = std::make_shared<arrow::KeyValueMetadata>();
  kv->Append(store::kKeyFormat, store::kFormatName);
  kv->Append(store::kKeyFormatVersion, store::FormatVersionString(meta.format_version));
  kv->Append(store::kKeyModelConfig, meta.config.ToJson().dump());
  kv->Append(store::kKeyTokenizer, meta.tokenizer.dump());
  kv->Append(store::kKeyExtra, meta.extra.dump());
  return kv;
}

class ParquetStoreWriter final : public StoreWriter {
 public:
  ParquetStoreWriter(const std::string& path, int version) : output_(path), version_(version) {}

  Status Start(const StoreMetadata& meta, arrow::Compression::type codec) {
    const std::string& path = output_.target_path();
    auto sink = arrow::io::FileOutputStream::Open(output_.temp_path());
    if (!sink.ok()) return FromArrow(sink.status(), StatusCode::kIOError, path + ": cannot create the store");
    sink_ = *sink;
    auto writer = parquet::arrow::FileWriter::Open(*store::StoreSchema(version_), arrow::default_memory_pool(), sink_,
                                                   WriterProperties(codec),
                                                   parquet::ArrowWriterProperties::Builder().build());
    if (!writer.ok()) return FromArrow(writer.status(), StatusCode::kIOError, path + ": cannot start the store");
    writer_ = std::move(*writer);
    return FromArrow(writer_->AddKeyValueMetadata(FileMetadata(meta)), StatusCode::kInternal, path);
  }

  Status Write(const WeightTensor& tensor) override {
    const std::string& path = output_.target_path();
    if (closed_) return Status::Invalid("{}: write of tensor '{}' after Close()", path, tensor.name);
    if (tensor.name.empty()) return Status::Invalid("{}: a tensor without a name", path);
    if (tensor.quantized() && version_ < kStoreFormatV2) {
      return Status::Invalid("{}: tensor '{}' is quantized ({}); a format {} store holds dense tensors only", path,
                             tensor.name, tensor.type_name(), store::FormatVersionString(version_));
    }
    LLMC_RETURN_IF_ERROR(tensor.Validate());
    if (!names_.insert(tensor.name).second) {
      return Status::Invalid("{}: tensor '{}' written twice", path, tensor.name);
    }
    LLMC_ASSIGN_OR_RETURN(auto row, store::TensorToRow(tensor, version_));
    try {
      return FromArrow(writer_->WriteTable(*row, /*chunk_size=*/1), StatusCode::kIOError,
                       path + ": writing tensor '" + tensor.name + "'");
    } catch (const std::exception& e) {  // parquet reports some failures by exception
      return Status::IOError("{}: writing tensor '{}': {}", path, tensor.name, store::OneLine(e));
    }
  }

  Status Close() override {
    const std::string& path = output_.target_path();
    if (closed_) return Status::Invalid("{}: Close() called twice", path);
    closed_ = true;
    try {
      LLMC_RETURN_IF_ERROR(FromArrow(writer_->Close(), StatusCode::kIOError, path + ": writing the footer"));
    } catch (const std::exception& e) {
      return Status::IOError("{}: writing the footer: {}", path, store::OneLine(e));
    }
    LLMC_RETURN_IF_ERROR(FromArrow(sink_->Close(), StatusCode::kIOError, path + ": closing"));
    return output_.Commit();
  }

 private:
  // Declared first so it is destroyed last: the writer and stream let go of the temporary file
  // before AtomicOutput removes it.
  AtomicOutput output_;
  int version_;
  std::shared_ptr<arrow::io::FileOutputStream> sink_;
  std::unique_ptr<parquet::arrow::FileWriter> writer_;
  std::unordered_set<std::string> names_;
  bool closed_ = false;
};

}  // namespace

Result<std::unique_ptr<StoreWriter>> StoreWriter::Open(const std::string& path, const StoreMetadata& meta) {
  return Open(path, meta, StoreWriteOptions{});
}

Result<std::unique_ptr<StoreWriter>> StoreWriter::Open(const std::string& path, const StoreMetadata& meta,
                                                       const StoreWriteOptions& options) {
  if (meta.format_version != kStoreFormatV1 && meta.format_version != kStoreFormatV2) {
    return Status::Invalid("{}: cannot write store format version {} (expected {} or {})", path,
                           meta.format_version, kStoreFormatV1, kStoreFormatV2);
  }
  // A config the loader would refuse must not reach the disk.
  const Status config = meta.config.Validate();
  if (!config.ok()) return config.WithContext(path + ": cannot write the store's model config");
  LLMC_ASSIGN_OR_RETURN(const auto codec, ParseCompression(options.compression));
  auto writer = std::make_unique<ParquetStoreWriter>(path, meta.format_version);
  try {
    LLMC_RETURN_IF_ERROR(writer->Start(meta, codec));
  } catch (const std::exception& e) {
    return Status::IOError("{}: cannot start the store: {}", path, store::OneLine(e));
  }
  return std::unique_ptr<StoreWriter>(std::move(writer));
}

}  // namespace llmc
