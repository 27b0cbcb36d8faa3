#include "store/store_format.h"

#include <arrow/util/crc32.h>

#include <charconv>
#include <vector>

namespace llmc::store {

namespace {

struct ColumnSpec {
  const char* name;
  std::shared_ptr<arrow::DataType> type;
};

std::vector<ColumnSpec> Columns(int version) {
  std::vector<ColumnSpec> cols = {
      {kColLayerName, arrow::utf8()},    {kColWeightName, arrow::utf8()},
      {kColShape, arrow::list(arrow::int64())}, {kColDType, arrow::utf8()},
      {kColWeightData, arrow::binary()}, {kColChecksum, arrow::uint32()},
  };
  if (version >= kStoreFormatV2) {
    cols.insert(cols.end(), {
                                {kColQuantType, arrow::utf8()},
                                {kColBits, arrow::int32()},
                                {kColGroupSize, arrow::int32()},
                                {kColQuantAxis, arrow::int32()},
                                {kColGrid, arrow::utf8()},
                                {kColScales, arrow::binary()},
                                {kColZeroPoints, arrow::binary()},
                                {kColPackingFormat, arrow::utf8()},
                            });
  }
  return cols;
}

// List types compare by value type only: Parquet names the list element "element", Arrow "item".
bool SameType(const arrow::DataType& found, const arrow::DataType& expected) {
  if (found.id() == arrow::Type::LIST && expected.id() == arrow::Type::LIST) {
    return SameType(*static_cast<const arrow::ListType&>(found).value_type(),
                    *static_cast<const arrow::ListType&>(expected).value_type());
  }
  return found.Equals(expected);
}

}  // namespace

std::string FormatVersionString(int version) { return std::to_string(version) + ".0"; }

Result<int> ParseFormatVersion(const std::string& text, const std::string& path) {
  int major = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, major);
  const bool well_formed = ec == std::errc() && ptr != text.data() && (ptr == end || *ptr == '.');
  if (!well_formed || (major != kStoreFormatV1 && major != kStoreFormatV2)) {
    return Status::Unsupported("{}: expected format version 1.x or 2.x, found {}", path, text);
  }
  return major;
}

std::shared_ptr<arrow::Schema> StoreSchema(int version) {
  arrow::FieldVector fields;
  for (const ColumnSpec& c : Columns(version)) {
    auto type = c.type;
    // Shape elements are never null either; Parquet then stores them as a required field.
    if (type->id() == arrow::Type::LIST) type = arrow::list(arrow::field("element", arrow::int64(), false));
    fields.push_back(arrow::field(c.name, type, /*nullable=*/false));
  }
  return arrow::schema(std::move(fields));
}

Status CheckSchema(const arrow::Schema& schema, int version, const std::string& path) {
  for (const ColumnSpec& c : Columns(version)) {
    const auto field = schema.GetFieldByName(c.name);
    if (field == nullptr) {
      return Status::Corrupt("{}: format {} store lacks column '{}'", path, FormatVersionString(version), c.name);
    }
    if (!SameType(*field->type(), *c.type)) {
      return Status::Corrupt("{}: column '{}' has type {} (expected {})", path, c.name, field->type()->ToString(),
                             c.type->ToString());
    }
  }
  return Status::OK();
}

uint32_t TensorChecksum(const WeightTensor& t) {
  uint32_t crc = arrow::internal::crc32(0, t.data.data(), t.data.size());
  crc = arrow::internal::crc32(crc, t.scales.data(), t.scales.size());
  return arrow::internal::crc32(crc, t.zero_points.data(), t.zero_points.size());
}

std::pair<std::string, std::string> SplitTensorName(const std::string& name) {
  const size_t dot = name.rfind('.');
  if (dot == std::string::npos) return {"", name};
  return {name.substr(0, dot), name.substr(dot + 1)};
}

std::string JoinTensorName(const std::string& layer_name, const std::string& weight_name) {
  return layer_name.empty() ? weight_name : layer_name + "." + weight_name;
}

std::string QuantTypeName(const WeightTensor& t) { return t.quantized() ? t.type_name() : kNone; }

std::string OneLine(const std::exception& e) {
  std::string text = e.what();
  for (char& c : text) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return text;
}

Status FromArrow(const arrow::Status& st, StatusCode code, const std::string& context) {
  if (st.ok()) return Status::OK();
  return {code, context + ": " + st.message()};
}

}  // namespace llmc::store
