#include "store/tensor_row.h"

#include <limits>
#include <vector>

#include "store/store_format.h"

namespace llmc::store {

namespace {

template <typename Builder, typename Value>
Result<std::shared_ptr<arrow::Array>> OneValue(const Value& v) {
  Builder b;
  std::shared_ptr<arrow::Array> out;
  arrow::Status st = b.Append(v);
  if (st.ok()) st = b.Finish(&out);
  if (!st.ok()) return FromArrow(st, StatusCode::kInternal, "building a store row");
  return out;
}

Result<std::shared_ptr<arrow::Array>> ShapeArray(const WeightTensor& t, const std::shared_ptr<arrow::DataType>& type) {
  auto values = std::make_shared<arrow::Int64Builder>();
  arrow::ListBuilder b(arrow::default_memory_pool(), values, type);
  std::shared_ptr<arrow::Array> out;
  arrow::Status st = b.Append();
  if (st.ok()) st = values->AppendValues(t.shape);
  if (st.ok()) st = b.Finish(&out);
  if (!st.ok()) return FromArrow(st, StatusCode::kInternal, "building the shape of '" + t.name + "'");
  return out;
}

// A one-value binary array over `bytes` without copying them.
Result<std::shared_ptr<arrow::Array>> BinaryView(const Bytes& bytes, const std::string& tensor, const char* column) {
  if (bytes.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    return Status::Unsupported("tensor '{}': {} holds {} bytes; a store value is limited to 2 GiB - 1", tensor,
                               column, bytes.size());
  }
  static const uint8_t kEmpty = 0;
  const std::vector<int32_t> offsets = {0, static_cast<int32_t>(bytes.size())};
  auto data = std::make_shared<arrow::Buffer>(bytes.empty() ? &kEmpty : bytes.data(),
                                              static_cast<int64_t>(bytes.size()));
  std::shared_ptr<arrow::Array> array =
      std::make_shared<arrow::BinaryArray>(1, arrow::Buffer::FromVector(offsets), std::move(data));
  return array;
}

std::string_view StringAt(const arrow::StringArray& a, int64_t r) { return a.GetView(r); }

template <typename ArrayType>
Result<std::shared_ptr<ArrayType>> TypedColumn(const arrow::Table& table, const char* name, const std::string& path) {
  const auto column = table.GetColumnByName(name);
  if (column == nullptr) return Status::Corrupt("{}: missing column '{}'", path, name);
  if (column->num_chunks() != 1) {
    return Status::Internal("{}: column '{}' has {} chunks (expected 1)", path, name, column->num_chunks());
  }
  return std::static_pointer_cast<ArrayType>(column->chunk(0));
}

Bytes BinaryValue(const std::shared_ptr<arrow::BinaryArray>& a, int64_t r) {
  if (a == nullptr) return {};
  const int32_t offset = a->value_offset(r);
  const int32_t length = a->value_length(r);
  if (length == 0) return {};
  const std::shared_ptr<arrow::Buffer>& owner = a->value_data();
  return {owner, owner->data() + offset, static_cast<size_t>(length)};
}

}  // namespace

Result<std::shared_ptr<arrow::Table>> TensorToRow(const WeightTensor& t, int version) {
  if (t.order != CodeOrder::kRows) {
    return Status::Invalid("tensor '{}' is in the decode kernels' tile order; a store holds rows as stored", t.name);
  }
  const auto schema = StoreSchema(version);
  const auto [layer_name, weight_name] = SplitTensorName(t.name);
  arrow::ArrayVector cols;
  auto add = [&cols](Result<std::shared_ptr<arrow::Array>> a) -> Status {
    if (!a.ok()) return a.status();
    cols.push_back(std::move(a).value());
    return Status::OK();
  };
  LLMC_RETURN_IF_ERROR(add(OneValue<arrow::StringBuilder>(layer_name)));
  LLMC_RETURN_IF_ERROR(add(OneValue<arrow::StringBuilder>(weight_name)));
  LLMC_RETURN_IF_ERROR(add(ShapeArray(t, schema->GetFieldByName(kColShape)->type())));
  LLMC_RETURN_IF_ERROR(add(OneValue<arrow::StringBuilder>(
      std::string(t.quantized() ? kQuantizedDType : EncodingName(t.encoding)))));
  LLMC_RETURN_IF_ERROR(add(BinaryView(t.data, t.name, kColWeightData)));
  LLMC_RETURN_IF_ERROR(add(OneValue<arrow::UInt32Builder>(TensorChecksum(t))));
  if (version >= kStoreFormatV2) {
    const bool q = t.quantized();
    LLMC_RETURN_IF_ERROR(add(OneValue<arrow::StringBuilder>(QuantTypeName(t))));
    LLMC_RETURN_IF_ERROR(add(OneValue<arrow::Int32Builder>(q ? t.quant.bits : 0)));
    LLMC_RETURN_IF_ERROR(add(OneValue<arrow::Int32Builder>(q ? static_cast<int32_t>(t.quant.group_size) : 0)));
    LLMC_RETURN_IF_ERROR(add(OneValue<arrow::Int32Builder>(q ? kQuantAxisRow : 0)));
    LLMC_RETURN_IF_ERROR(add(OneValue<arrow::StringBuilder>(std::string(q ? QuantGridName(t.quant.grid) : kNone))));
    LLMC_RETURN_IF_ERROR(add(BinaryView(t.scales, t.name, kColScales)));
    LLMC_RETURN_IF_ERROR(add(BinaryView(t.zero_points, t.name, kColZeroPoints)));
    LLMC_RETURN_IF_ERROR(add(OneValue<arrow::StringBuilder>(std::string(q ? kPackingBitstream : kNone))));
  }
  return arrow::Table::Make(schema, cols, 1);
}

Result<StoreRows> StoreRows::Make(const std::shared_ptr<arrow::Table>& table, int version, const std::string& path) {
  auto combined = table->CombineChunks();
  if (!combined.ok()) return FromArrow(combined.status(), StatusCode::kIOError, path);
  const arrow::Table& t = **combined;
  StoreRows rows;
  rows.path_ = path;
  rows.version_ = version;
  LLMC_ASSIGN_OR_RETURN(rows.layer_name_, TypedColumn<arrow::StringArray>(t, kColLayerName, path));
  LLMC_ASSIGN_OR_RETURN(rows.weight_name_, TypedColumn<arrow::StringArray>(t, kColWeightName, path));
  LLMC_ASSIGN_OR_RETURN(rows.shape_, TypedColumn<arrow::ListArray>(t, kColShape, path));
  LLMC_ASSIGN_OR_RETURN(rows.dtype_, TypedColumn<arrow::StringArray>(t, kColDType, path));
  LLMC_ASSIGN_OR_RETURN(rows.checksum_, TypedColumn<arrow::UInt32Array>(t, kColChecksum, path));
  const bool with_bytes = t.GetColumnByName(kColWeightData) != nullptr;
  if (with_bytes) {
    LLMC_ASSIGN_OR_RETURN(rows.weight_data_, TypedColumn<arrow::BinaryArray>(t, kColWeightData, path));
  }
  if (version >= kStoreFormatV2) {
    LLMC_ASSIGN_OR_RETURN(rows.quant_type_, TypedColumn<arrow::StringArray>(t, kColQuantType, path));
    LLMC_ASSIGN_OR_RETURN(rows.bits_, TypedColumn<arrow::Int32Array>(t, kColBits, path));
    LLMC_ASSIGN_OR_RETURN(rows.group_size_, TypedColumn<arrow::Int32Array>(t, kColGroupSize, path));
    LLMC_ASSIGN_OR_RETURN(rows.quant_axis_, TypedColumn<arrow::Int32Array>(t, kColQuantAxis, path));
    LLMC_ASSIGN_OR_RETURN(rows.grid_, TypedColumn<arrow::StringArray>(t, kColGrid, path));
    LLMC_ASSIGN_OR_RETURN(rows.packing_format_, TypedColumn<arrow::StringArray>(t, kColPackingFormat, path));
    if (with_bytes) {
      LLMC_ASSIGN_OR_RETURN(rows.scales_, TypedColumn<arrow::BinaryArray>(t, kColScales, path));
      LLMC_ASSIGN_OR_RETURN(rows.zero_points_, TypedColumn<arrow::BinaryArray>(t, kColZeroPoints, path));
    }
  }
  return rows;
}

Result<WeightTensor> StoreRows::Tensor(int64_t r) const {
  WeightTensor t;
  t.name = JoinTensorName(std::string(StringAt(*layer_name_, r)), std::string(StringAt(*weight_name_, r)));
  const auto dims = std::static_pointer_cast<arrow::Int64Array>(shape_->values());
  for (int64_t i = shape_->value_offset(r); i < shape_->value_offset(r) + shape_->value_length(r); ++i) {
    t.shape.push_back(dims->Value(i));
  }
  const std::string_view dtype = StringAt(*dtype_, r);
  if (dtype == kQuantizedDType && version_ >= kStoreFormatV2) {
    t.encoding = Encoding::kQuantized;
  } else {
    auto parsed = ParseDType(dtype);
    if (!parsed.ok()) {
      return Status::Corrupt("{}: tensor '{}': dtype '{}' (expected f32, f16, bf16{})", path_, t.name, dtype,
                             version_ >= kStoreFormatV2 ? " or u8" : "");
    }
    t.encoding = EncodingOf(*parsed);
  }
  if (version_ >= kStoreFormatV2) LLMC_RETURN_IF_ERROR(ParseQuantColumns(r, t));
  t.data = BinaryValue(weight_data_, r);
  t.scales = BinaryValue(scales_, r);
  t.zero_points = BinaryValue(zero_points_, r);
  return t;
}

Status StoreRows::ParseQuantColumns(int64_t r, WeightTensor& t) const {
  const std::string_view quant_type = StringAt(*quant_type_, r);
  if (!t.quantized()) {
    if (quant_type != kNone) {
      return Status::Corrupt("{}: tensor '{}': dense dtype with quant_type '{}' (expected none)", path_, t.name,
                             quant_type);
    }
    return Status::OK();
  }
  t.quant.bits = bits_->Value(r);
  t.quant.group_size = group_size_->Value(r);
  if (quant_type != t.type_name()) {
    return Status::Corrupt("{}: tensor '{}': quant_type '{}' but bits {} (expected {})", path_, t.name, quant_type,
                           t.quant.bits, t.type_name());
  }
  if (quant_axis_->Value(r) != kQuantAxisRow) {
    return Status::Unsupported("{}: tensor '{}': quant_axis {} (only {} is supported: groups along a row)", path_,
                               t.name, quant_axis_->Value(r), kQuantAxisRow);
  }
  const std::string_view packing = StringAt(*packing_format_, r);
  if (packing != kPackingBitstream) {
    return Status::Unsupported("{}: tensor '{}': packing_format '{}' (expected {})", path_, t.name, packing,
                               kPackingBitstream);
  }
  auto grid = ParseQuantGrid(StringAt(*grid_, r));
  if (!grid.ok()) return Status::Corrupt("{}: tensor '{}': {}", path_, t.name, grid.status().message());
  t.quant.grid = *grid;
  return Status::OK();
}

}  // namespace llmc::store
