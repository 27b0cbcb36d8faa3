// Parsing and validation of QuantizationConfig (JSON, and YAML through a YAML → JSON conversion), and
// the name patterns used by `skip` and `overrides`.
#include "llmc/quant_config.h"

#include <fnmatch.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <regex>
#include <set>

#include "llmc/file.h"

namespace llmc {

namespace {

using json = nlohmann::json;

constexpr const char* kRegexPrefix = "re:";

Status CheckObject(const json& obj, const std::string& where, const std::set<std::string>& known) {
  if (!obj.is_object()) return Status::Invalid("config: {} {} (expected a mapping)", where, obj.dump());
  for (const auto& [key, value] : obj.items()) {
    if (known.count(key) == 0) {
      std::string names;
      for (const auto& k : known) names += (names.empty() ? "" : ", ") + k;
      const std::string path = where == "document" ? key : where + "." + key;
      return Status::Invalid("config: unknown key '{}' (known keys here: {})", path, names);
    }
  }
  return Status::OK();
}

Result<int64_t> IntValue(const std::string& key, const json& v) {
  if (!v.is_number_integer()) return Status::Invalid("config: {} {} (expected an integer)", key, v.dump());
  return v.get<int64_t>();
}

Result<int64_t> PositiveInt(const std::string& key, const json& v) {
  LLMC_ASSIGN_OR_RETURN(int64_t n, IntValue(key, v));
  if (n <= 0) return Status::Invalid("config: {} {} (expected > 0)", key, n);
  return n;
}

Result<double> NumberValue(const std::string& key, const json& v) {
  if (!v.is_number() || !std::isfinite(v.get<double>())) {
    return Status::Invalid("config: {} {} (expected a number)", key, v.dump());
  }
  return v.get<double>();
}

Result<bool> BoolValue(const std::string& key, const json& v) {
  if (!v.is_boolean()) return Status::Invalid("config: {} {} (expected true or false)", key, v.dump());
  return v.get<bool>();
}

Result<std::string> StringValue(const std::string& key, const json& v) {
  if (!v.is_string()) return Status::Invalid("config: {} {} (expected a string)", key, v.dump());
  return v.get<std::string>();
}

Status CheckPattern(const std::string& key, const std::string& pattern) {
  if (pattern.empty()) return Status::Invalid("config: {} is an empty pattern", key);
  return MatchesPattern(pattern, "").status().WithContext("config: " + key);
}

// 2, 3, 4 or 8; 3 only where the backend can use it (GPTQ's 3-bit grids).
Result<int> BitsValue(const std::string& key, const json& v, const std::string& backend) {
  LLMC_ASSIGN_OR_RETURN(int64_t bits, IntValue(key, v));
  if (bits != 2 && bits != 3 && bits != 4 && bits != 8) {
    return Status::Invalid("config: {} {} (expected 2, 3, 4 or 8)", key, bits);
  }
  if (bits == 3 && backend != "gptq") {
    return Status::Invalid("config: {} 3 needs backend gptq (backend {} takes 2, 4 or 8)", key, backend);
  }
  return static_cast<int>(bits);
}

Result<QuantGrid> GridValue(const std::string& key, const json& v) {
  LLMC_ASSIGN_OR_RETURN(std::string name, StringValue(key, v));
  auto grid = ParseQuantGrid(name);
  if (!grid.ok()) return grid.status().WithContext("config: " + key);
  return *grid;
}

Result<std::vector<std::string>> PatternList(const std::string& key, const json& v) {
  if (!v.is_array()) return Status::Invalid("config: {} {} (expected a list of patterns)", key, v.dump());
  std::vector<std::string> out;
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string item_key = fmt::format("{}[{}]", key, i);
    LLMC_ASSIGN_OR_RETURN(std::string p, StringValue(item_key, v[i]));
    LLMC_RETURN_IF_ERROR(CheckPattern(item_key, p));
    out.push_back(std::move(p));
  }
  return out;
}

Result<QuantOverride> OverrideValue(const std::string& key, const json& v, const std::string& backend) {
  LLMC_RETURN_IF_ERROR(CheckObject(v, key, {"pattern", "bits", "group_size", "grid"}));
  if (!v.contains("pattern")) return Status::Invalid("config: {} has no 'pattern'", key);
  QuantOverride o;
  LLMC_ASSIGN_OR_RETURN(o.pattern, StringValue(key + ".pattern", v["pattern"]));
  LLMC_RETURN_IF_ERROR(CheckPattern(key + ".pattern", o.pattern));
  if (v.contains("bits")) {
    LLMC_ASSIGN_OR_RETURN(o.bits, BitsValue(key + ".bits", v["bits"], backend));
  }
  if (v.contains("group_size")) {
    LLMC_ASSIGN_OR_RETURN(o.group_size, PositiveInt(key + ".group_size", v["group_size"]));
  }
  if (v.contains("grid")) {
    LLMC_ASSIGN_OR_RETURN(o.grid, GridValue(key + ".grid", v["grid"]));
  }
  return o;
}

Result<CalibrationConfig> CalibrationValue(const json& v) {
  LLMC_RETURN_IF_ERROR(CheckObject(v, "calibration", {"data", "samples", "seq_len"}));
  CalibrationConfig c;
  if (v.contains("data")) {
    LLMC_ASSIGN_OR_RETURN(c.data, StringValue("calibration.data", v["data"]));
  }
  if (v.contains("samples")) {
    LLMC_ASSIGN_OR_RETURN(c.samples, PositiveInt("calibration.samples", v["samples"]));
  }
  if (v.contains("seq_len")) {
    LLMC_ASSIGN_OR_RETURN(c.seq_len, PositiveInt("calibration.seq_len", v["seq_len"]));
  }
  return c;
}

Result<GptqConfig> GptqValue(const json& v) {
  LLMC_RETURN_IF_ERROR(CheckObject(v, "gptq", {"block_size", "damp", "act_order", "static_groups"}));
  GptqConfig g;
  if (v.contains("block_size")) {
    LLMC_ASSIGN_OR_RETURN(g.block_size, PositiveInt("gptq.block_size", v["block_size"]));
  }
  if (v.contains("damp")) {
    LLMC_ASSIGN_OR_RETURN(g.damp, NumberValue("gptq.damp", v["damp"]));
    if (g.damp < 0 || g.damp > 1) return Status::Invalid("config: gptq.damp {} (expected 0 to 1)", g.damp);
  }
  if (v.contains("act_order")) {
    LLMC_ASSIGN_OR_RETURN(g.act_order, BoolValue("gptq.act_order", v["act_order"]));
  }
  if (v.contains("static_groups")) {
    LLMC_ASSIGN_OR_RETURN(g.static_groups, BoolValue("gptq.static_groups", v["static_groups"]));
  }
  return g;
}

// YAML scalars carry no type: plain true/false and numbers become JSON booleans and numbers, quoted
// scalars stay strings.
json ScalarToJson(const YAML::Node& node) {
  const std::string& text = node.Scalar();
  if (node.Tag() == "!") return text;
  if (text == "true" || text == "True" || text == "false" || text == "False") return text[0] == 't' || text[0] == 'T';
  if (text == "null" || text == "~" || text.empty()) return nullptr;
  int64_t i;
  if (YAML::convert<int64_t>::decode(node, i)) return i;
  double d;
  if (YAML::convert<double>::decode(node, d)) return d;
  return text;
}

json YamlToJson(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      json obj = json::object();
      for (const auto& kv : node) obj[kv.first.as<std::string>()] = YamlToJson(kv.second);
      return obj;
    }
    case YAML::NodeType::Sequence: {
      json arr = json::array();
      for (const auto& item : node) arr.push_back(YamlToJson(item));
      return arr;
    }
    case YAML::NodeType::Scalar: return ScalarToJson(node);
    default: return nullptr;
  }
}

Result<json> ParseYaml(const std::string& text, const std::string& where) {
  try {
    return YamlToJson(YAML::Load(text));
  } catch (const YAML::Exception& e) {
    return Status::Invalid("{}: YAML parse error: {}", where, e.what());
  }
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

Result<bool> MatchesPattern(const std::string& pattern, const std::string& name) {
  if (pattern.rfind(kRegexPrefix, 0) == 0) {
    try {
      return std::regex_search(name, std::regex(pattern.substr(3)));
    } catch (const std::regex_error& e) {
      return Status::Invalid("pattern '{}': not a valid regular expression ({})", pattern, e.what());
    }
  }
  return fnmatch(pattern.c_str(), name.c_str(), 0) == 0;
}

Result<QuantizationConfig> QuantizationConfig::FromJson(const json& j) {
  LLMC_RETURN_IF_ERROR(CheckObject(j, "document",
                                   {"backend", "bits", "group_size", "grid", "mse_clip", "skip", "overrides",
                                    "embedding_bits", "dense_dtype", "calibration", "gptq", "target_bpw",
                                    "activation_aware"}));
  QuantizationConfig c;
  if (j.contains("backend")) {
    LLMC_ASSIGN_OR_RETURN(c.backend, StringValue("backend", j["backend"]));
    if (c.backend != "ptq" && c.backend != "gptq" && c.backend != "angelslim") {
      return Status::Invalid("config: backend '{}' (expected ptq, gptq or angelslim)", c.backend);
    }
  }
  if (!j.contains("bits")) return Status::Invalid("config: bits is not set (expected 2, 3, 4 or 8)");
  LLMC_ASSIGN_OR_RETURN(c.bits, BitsValue("bits", j["bits"], c.backend));
  if (j.contains("group_size")) {
    LLMC_ASSIGN_OR_RETURN(c.group_size, PositiveInt("group_size", j["group_size"]));
  }
  if (j.contains("grid")) {
    LLMC_ASSIGN_OR_RETURN(c.grid, GridValue("grid", j["grid"]));
  }
  if (j.contains("mse_clip")) {
    LLMC_ASSIGN_OR_RETURN(c.mse_clip, BoolValue("mse_clip", j["mse_clip"]));
  }
  if (j.contains("skip")) {
    LLMC_ASSIGN_OR_RETURN(c.skip, PatternList("skip", j["skip"]));
  }
  if (j.contains("overrides")) {
    const json& list = j["overrides"];
    if (!list.is_array()) return Status::Invalid("config: overrides {} (expected a list)", list.dump());
    for (size_t i = 0; i < list.size(); ++i) {
      LLMC_ASSIGN_OR_RETURN(QuantOverride o, OverrideValue(fmt::format("overrides[{}]", i), list[i], c.backend));
      c.overrides.push_back(std::move(o));
    }
  }
  if (j.contains("embedding_bits")) {
    LLMC_ASSIGN_OR_RETURN(int64_t eb, IntValue("embedding_bits", j["embedding_bits"]));
    if (eb == 16) {
      c.embedding_bits = 16;
    } else {
      auto bits = BitsValue("embedding_bits", j["embedding_bits"], c.backend);
      if (!bits.ok()) return Status::Invalid("config: embedding_bits {} (expected 2, 4, 8 or 16)", eb);
      c.embedding_bits = *bits;
    }
  }
  if (j.contains("dense_dtype")) {
    LLMC_ASSIGN_OR_RETURN(std::string name, StringValue("dense_dtype", j["dense_dtype"]));
    auto dtype = ParseDType(name);
    if (!dtype.ok()) return Status::Invalid("config: dense_dtype '{}' (expected f16, bf16 or f32)", name);
    c.dense_dtype = *dtype;
  }
  if (j.contains("calibration")) {
    LLMC_ASSIGN_OR_RETURN(c.calibration, CalibrationValue(j["calibration"]));
  }
  if (j.contains("gptq")) {
    LLMC_ASSIGN_OR_RETURN(c.gptq, GptqValue(j["gptq"]));
  }
  if (j.contains("target_bpw")) {
    LLMC_ASSIGN_OR_RETURN(double bpw, NumberValue("target_bpw", j["target_bpw"]));
    if (bpw <= 0 || bpw > 16) return Status::Invalid("config: target_bpw {} (expected > 0 and <= 16)", bpw);
    c.target_bpw = bpw;
  }
  if (j.contains("activation_aware")) {
    LLMC_ASSIGN_OR_RETURN(c.activation_aware, BoolValue("activation_aware", j["activation_aware"]));
  }
  return c;
}

Result<QuantizationConfig> QuantizationConfig::FromYaml(const std::string& text) {
  LLMC_ASSIGN_OR_RETURN(json j, ParseYaml(text, "config"));
  return FromJson(j);
}

Result<nlohmann::json> QuantizationConfig::ReadDocument(const std::string& path) {
  LLMC_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  json doc;
  if (EndsWith(path, ".json")) {
    doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded()) return Status::Invalid("{}: not valid JSON", path);
  } else if (EndsWith(path, ".yaml") || EndsWith(path, ".yml")) {
    LLMC_ASSIGN_OR_RETURN(doc, ParseYaml(text, path));
  } else {
    return Status::Invalid("{}: config file name must end in .json, .yaml or .yml", path);
  }
  if (doc.is_null()) doc = json::object();  // an empty YAML file: every key at its default
  if (!doc.is_object()) return Status::Invalid("{}: the config must be a mapping of keys, found {}", path, doc.dump());
  return doc;
}

nlohmann::json QuantizationConfig::ToJson() const {
  json overrides_json = json::array();
  for (const auto& o : overrides) {
    json item = {{"pattern", o.pattern}};
    if (o.bits) item["bits"] = *o.bits;
    if (o.group_size) item["group_size"] = *o.group_size;
    if (o.grid) item["grid"] = QuantGridName(*o.grid);
    overrides_json.push_back(std::move(item));
  }
  json j = {{"backend", backend},
            {"bits", bits},
            {"grid", QuantGridName(grid)},
            {"mse_clip", mse_clip},
            {"skip", skip},
            {"overrides", std::move(overrides_json)},
            {"embedding_bits", embedding_bits},
            {"dense_dtype", DTypeName(dense_dtype)},
            {"calibration", {{"data", calibration.data}, {"samples", calibration.samples}, {"seq_len", calibration.seq_len}}},
            {"gptq",
             {{"block_size", gptq.block_size},
              {"damp", gptq.damp},
              {"act_order", gptq.act_order},
              {"static_groups", gptq.static_groups}}},
            {"activation_aware", activation_aware}};
  if (group_size) j["group_size"] = *group_size;
  if (target_bpw) j["target_bpw"] = *target_bpw;
  return j;
}

}  // namespace llmc
