// WeightLoaderV2: Open() reads the footer and the small columns of every row group (names, shapes,
// types) to build the index; Load() reads exactly one row group and hands out its Arrow buffers.
#include <arrow/io/file.h>
#include <arrow/util/key_value_metadata.h>
#include <parquet/arrow/reader.h>
#include <parquet/arrow/schema.h>
#include <parquet/exception.h>
#include <parquet/file_reader.h>

#include <algorithm>
#include <exception>
#include <atomic>
#include <mutex>
#include <unordered_map>

#include "llmc/file.h"
#include "llmc/store.h"
#include "store/store_format.h"
#include "store/tensor_row.h"

namespace llmc {

namespace {

using store::FromArrow;

// Arrow reports a failed read as IOError; anything else while decoding means the bytes are wrong.
StatusCode ReadFailureCode(const arrow::Status& st) {
  return st.IsIOError() ? StatusCode::kIOError : StatusCode::kCorrupt;
}

Result<std::string> RequiredKey(const arrow::KeyValueMetadata& kv, const char* key, const std::string& path) {
  auto value = kv.Get(key);
  if (!value.ok()) return Status::Corrupt("{}: llmc store metadata lacks key '{}'", path, key);
  return *value;
}

Result<nlohmann::json> JsonKey(const arrow::KeyValueMetadata& kv, const char* key, const std::string& path) {
  LLMC_ASSIGN_OR_RETURN(const std::string text, RequiredKey(kv, key, path));
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::Corrupt("{}: metadata key '{}' is not valid JSON", path, key);
  return j;
}

// The file's key-value metadata as a StoreMetadata; refuses non-llmc files and unknown major versions.
Result<StoreMetadata> DecodeMetadata(const std::shared_ptr<const arrow::KeyValueMetadata>& kv,
                                     const std::string& path) {
  if (kv == nullptr || !kv->Contains(store::kKeyFormat)) {
    return Status::Corrupt("{}: not an llmc weight store (the Parquet metadata has no '{}' key)", path,
                           store::kKeyFormat);
  }
  LLMC_ASSIGN_OR_RETURN(const std::string format, RequiredKey(*kv, store::kKeyFormat, path));
  if (format != store::kFormatName) {
    return Status::Corrupt("{}: '{}' is '{}' (expected '{}')", path, store::kKeyFormat, format, store::kFormatName);
  }
  StoreMetadata meta;
  LLMC_ASSIGN_OR_RETURN(const std::string version, RequiredKey(*kv, store::kKeyFormatVersion, path));
  LLMC_ASSIGN_OR_RETURN(meta.format_version, store::ParseFormatVersion(version, path));
  LLMC_ASSIGN_OR_RETURN(const nlohmann::json config, JsonKey(*kv, store::kKeyModelConfig, path));
  auto parsed = ModelConfig::FromJson(config);
  if (!parsed.ok()) return parsed.status().WithContext(fmt::format("{}: metadata key '{}'", path, store::kKeyModelConfig));
  meta.config = *parsed;
  LLMC_ASSIGN_OR_RETURN(meta.tokenizer, JsonKey(*kv, store::kKeyTokenizer, path));
  LLMC_ASSIGN_OR_RETURN(meta.extra, JsonKey(*kv, store::kKeyExtra, path));
  return meta;
}

// Leaf column indices of the named top-level fields (a list field's leaf is its element).
std::vector<int> LeafColumns(const parquet::arrow::SchemaManifest& manifest, const std::vector<std::string>& names) {
  std::vector<int> leaves;
  for (const auto& field : manifest.schema_fields) {
    if (std::find(names.begin(), names.end(), field.field->name()) == names.end()) continue;
    const parquet::arrow::SchemaField* f = &field;
    while (!f->is_leaf() && !f->children.empty()) f = &f->children[0];
    if (f->is_leaf()) leaves.push_back(f->column_index);
  }
  return leaves;
}

TensorInfo InfoOf(const WeightTensor& t) {
  TensorInfo info;
  info.name = t.name;
  info.shape = t.shape;
  info.encoding = t.encoding;
  info.quant = t.quant;
  info.stored_bytes =
      static_cast<int64_t>(t.expected_data_bytes() + t.expected_scale_bytes() + t.expected_zero_bytes());
  info.type_name = t.type_name();
  const int64_t n = t.numel();
  info.bits_per_weight = n == 0 ? 0 : 8.0 * static_cast<double>(info.stored_bytes) / static_cast<double>(n);
  return info;
}

class ParquetWeightLoader final : public WeightLoaderV2 {
 public:
  explicit ParquetWeightLoader(std::string path) : path_(std::move(path)) {}

  Status Open() {
    auto file = arrow::io::ReadableFile::Open(path_);
    if (!file.ok()) {
      if (!FileExists(path_)) return Status::NotFound("{}: no such store file", path_);
      return FromArrow(file.status(), StatusCode::kIOError, path_ + ": cannot open");
    }
    std::unique_ptr<parquet::ParquetFileReader> raw;
    try {
      raw = parquet::ParquetFileReader::Open(*file);
    } catch (const std::exception& e) {
      return Status::Corrupt("{}: not a readable Parquet file: {}", path_, store::OneLine(e));
    }
    const auto file_meta = raw->metadata();
    LLMC_ASSIGN_OR_RETURN(meta_, DecodeMetadata(file_meta->key_value_metadata(), path_));
    for (int rg = 0; rg < file_meta->num_row_groups(); ++rg) {
      if (file_meta->RowGroup(rg)->num_rows() != 1) {
        return Status::Corrupt("{}: row group {} holds {} rows (expected one tensor per row group)", path_, rg,
                               file_meta->RowGroup(rg)->num_rows());
      }
    }
    parquet::ArrowReaderProperties props;
    props.set_pre_buffer(false);  // read exactly the requested column chunks, nothing coalesced around them
    LLMC_RETURN_IF_ERROR(FromArrow(parquet::arrow::FileReader::Make(arrow::default_memory_pool(), std::move(raw),
                                                                     props, &reader_),
                                   StatusCode::kCorrupt, path_));
    std::shared_ptr<arrow::Schema> schema;
    LLMC_RETURN_IF_ERROR(FromArrow(reader_->GetSchema(&schema), StatusCode::kCorrupt, path_));
    LLMC_RETURN_IF_ERROR(store::CheckSchema(*schema, meta_.format_version, path_));
    return BuildIndex();
  }

  const std::string& path() const override { return path_; }
  const StoreMetadata& metadata() const override { return meta_; }
  const std::vector<TensorInfo>& tensors() const override { return infos_; }
  bool Has(const std::string& name) const override { return row_group_.count(name) != 0; }

  Result<WeightTensor> Load(const std::string& name) override {
    const auto it = row_group_.find(name);
    if (it == row_group_.end()) {
      return Status::NotFound("{}: no tensor named '{}' ({} tensors in the store)", path_, name, infos_.size());
    }
    LLMC_ASSIGN_OR_RETURN(auto table, ReadRowGroup(it->second, name));
    LLMC_ASSIGN_OR_RETURN(const auto rows, store::StoreRows::Make(table, meta_.format_version, path_));
    LLMC_ASSIGN_OR_RETURN(WeightTensor t, rows.Tensor(0));
    if (t.name != name) {
      return Status::Corrupt("{}: row group {} holds '{}' (the index said '{}')", path_, it->second, t.name, name);
    }
    const Status valid = t.Validate();
    if (!valid.ok()) return valid.WithContext(path_);
    const uint32_t computed = store::TensorChecksum(t);
    if (computed != rows.checksum(0)) {
      return Status::Corrupt("{}: tensor '{}': checksum mismatch (stored {:08x}, computed {:08x})", path_, name,
                             rows.checksum(0), computed);
    }
    // The pool keeps the memory of freed buffers for reuse, but a model copies every tensor into its
    // own memory (huge pages, PrepareForMatMul) and drops the loaded buffers as it goes: their memory
    // goes back every few MB loaded, or it would stay in the peak memory beside the model's copies
    // (about a quarter of a 2-bit store). Released here, before the caller copies, so that the read's
    // own buffers (as large as the tensor) are gone by then. Each release costs about 0.25 ms, so not
    // after every tensor.
    if ((unreleased_bytes_ += static_cast<int64_t>(t.data.size() + t.scales.size() + t.zero_points.size())) >=
        kReleaseEveryBytes) {
      unreleased_bytes_ = 0;
      arrow::default_memory_pool()->ReleaseUnused();
    }
    return t;
  }

  Result<WeightTensor> LoadDequantized(const std::string& name, DType to) override {
    LLMC_ASSIGN_OR_RETURN(const WeightTensor t, Load(name));
    return ToDense(t, to);
  }

 private:
  // Reads the index columns of every row group — everything but the tensor bytes.
  Status BuildIndex() {
    const std::vector<std::string> index_columns = {
        store::kColLayerName, store::kColWeightName, store::kColShape,     store::kColDType,
        store::kColChecksum,  store::kColQuantType,  store::kColBits,      store::kColGroupSize,
        store::kColQuantAxis, store::kColGrid,       store::kColPackingFormat};
    std::shared_ptr<arrow::Table> table;
    try {
      const arrow::Status st = reader_->ReadTable(LeafColumns(reader_->manifest(), index_columns), &table);
      LLMC_RETURN_IF_ERROR(FromArrow(st, ReadFailureCode(st), path_ + ": reading the tensor index"));
    } catch (const std::exception& e) {
      return Status::Corrupt("{}: reading the tensor index: {}", path_, store::OneLine(e));
    }
    LLMC_ASSIGN_OR_RETURN(const auto rows, store::StoreRows::Make(table, meta_.format_version, path_));
    for (int64_t r = 0; r < rows.num_rows(); ++r) {
      LLMC_ASSIGN_OR_RETURN(const WeightTensor t, rows.Tensor(r));
      if (!row_group_.emplace(t.name, static_cast<int>(r)).second) {
        return Status::Corrupt("{}: tensor '{}' appears twice", path_, t.name);
      }
      infos_.push_back(InfoOf(t));
    }
    return Status::OK();
  }

  Result<std::shared_ptr<arrow::Table>> ReadRowGroup(int row_group, const std::string& name) {
    // The Parquet reader is not documented as safe for concurrent calls; loads are serialised.
    std::lock_guard<std::mutex> lock(mu_);
    std::shared_ptr<arrow::Table> table;
    try {
      const arrow::Status st = reader_->ReadRowGroup(row_group, &table);
      LLMC_RETURN_IF_ERROR(FromArrow(st, ReadFailureCode(st), fmt::format("{}: reading tensor '{}'", path_, name)));
    } catch (const std::exception& e) {
      return Status::Corrupt("{}: reading tensor '{}': {}", path_, name, store::OneLine(e));
    }
    return table;
  }

  std::string path_;
  StoreMetadata meta_;
  std::unique_ptr<parquet::arrow::FileReader> reader_;
  std::vector<TensorInfo> infos_;
  std::unordered_map<std::string, int> row_group_;
  std::mutex mu_;
  static constexpr int64_t kReleaseEveryBytes = int64_t{4} << 20;
  std::atomic<int64_t> unreleased_bytes_{0};  // loaded since the pool last released its free memory
};

}  // namespace

Result<std::unique_ptr<WeightLoaderV2>> WeightLoaderV2::Open(const std::string& path) {
  auto loader = std::make_unique<ParquetWeightLoader>(path);
  try {
    LLMC_RETURN_IF_ERROR(loader->Open());
  } catch (const std::exception& e) {  // defensive: parquet throws from places not listed above
    return Status::Corrupt("{}: {}", path, store::OneLine(e));
  }
  return std::unique_ptr<WeightLoaderV2>(std::move(loader));
}

}  // namespace llmc
