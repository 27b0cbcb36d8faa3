// `llmc quantize` as a user runs it: config files and flags, errors that leave nothing behind, --json.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "llmc/file.h"
#include "llmc/store.h"
#include "test_util.h"

namespace llmc {
namespace {

using json = nlohmann::json;

std::string QuantizeArgs(const std::string& output, const std::string& extra) {
  return "quantize --input " + testing::Stories260KDir() + " --output " + output + " " + extra;
}

// Every field of the JSON report's per-tensor list by name.
std::map<std::string, json> TensorsByName(const json& report) {
  std::map<std::string, json> out;
  for (const auto& t : report["tensors"]) out[t["name"].get<std::string>()] = t;
  return out;
}

struct BadRun {
  const char* config_name;  // written into the scratch dir when non-empty
  const char* config_text;
  const char* flags;
  const char* message;
};

TEST(CliQuantizeTest, BadConfigsFailClearlyAndWriteNothing) {
  const BadRun runs[] = {
      {"c.yaml", "bits: 4\nbitz: 2\n", "", "unknown key 'bitz'"},
      {"", "", "--bits 5", "bits 5 (expected 2, 3, 4 or 8)"},
      {"", "", "--bits 4 --group-size 0", "group_size 0 (expected > 0)"},
      {"c.json", R"({"bits": 2, "skip": ["*.mlp.experts.*"]})", "", "skip[0] '*.mlp.experts.*' matches no tensor"},
      {"c.yml", "bits: 2\noverrides: [{pattern: 're:vision', bits: 4}]\n", "",
       "overrides[0].pattern 're:vision' matches no tensor"},
      {"", "", "--bits 2 --backend awq", "backend 'awq' (expected ptq, gptq or angelslim)"},
      {"", "", "--grid signed", "no bit width"},
      {"c.toml", "bits = 4", "", "must end in .json, .yaml or .yml"},
  };
  for (const auto& run : runs) {
    testing::ScratchDir dir;
    std::string flags = run.flags;
    if (run.config_name[0] != '\0') {
      testing::WriteFile(dir.File(run.config_name), run.config_text);
      flags += " --config " + dir.File(run.config_name);
    }
    const std::string out = dir.File("out.parquet");
    const auto r = testing::RunLlmc(QuantizeArgs(out, flags));
    EXPECT_NE(r.exit_code, 0) << flags;
    EXPECT_NE(r.output.find(run.message), std::string::npos) << flags << "\n  got: " << r.output;
    EXPECT_FALSE(FileExists(out)) << flags;
  }
}

TEST(CliQuantizeTest, YamlAndJsonConfigsGiveTheSameStoreAndFlagsOverrideThem) {
  testing::ScratchDir dir;
  testing::WriteFile(dir.File("c.yaml"), R"(bits: 4
group_size: 32
grid: asym
embedding_bits: 2
skip: ["model.layers.0.*"]
overrides:
  - {pattern: "*.mlp.*", bits: 2, grid: sym_half}
)");
  testing::WriteFile(dir.File("c.json"), R"({"bits": 4, "group_size": 32, "grid": "asym", "embedding_bits": 2,
    "skip": ["model.layers.0.*"], "overrides": [{"pattern": "*.mlp.*", "bits": 2, "grid": "sym_half"}]})");
  json reports[2];
  int i = 0;
  for (const char* name : {"c.yaml", "c.json"}) {
    const auto r = testing::RunLlmc(QuantizeArgs(dir.File(std::string(name) + ".parquet"),
                                                 std::string("--json --config ") + dir.File(name)));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    reports[i++] = json::parse(r.output);
  }
  EXPECT_EQ(reports[0]["config"], reports[1]["config"]);
  EXPECT_EQ(reports[0]["stored_bytes"], reports[1]["stored_bytes"]);
  auto tensors = TensorsByName(reports[0]);
  EXPECT_EQ(tensors["model.layers.0.mlp.up_proj.weight"]["type"], "f16");
  EXPECT_EQ(tensors["model.layers.1.mlp.up_proj.weight"]["type"], "int2");
  EXPECT_EQ(tensors["model.layers.1.mlp.up_proj.weight"]["rule"], "override '*.mlp.*'");
  EXPECT_EQ(tensors["model.layers.1.self_attn.q_proj.weight"]["type"], "int4");
  EXPECT_EQ(tensors["model.embed_tokens.weight"]["type"], "int2");
  EXPECT_EQ(tensors["model.norm.weight"]["type"], "f16");

  auto loader = WeightLoaderV2::Open(dir.File("c.yaml.parquet"));
  ASSERT_TRUE(loader.ok()) << loader.status().ToString();
  auto up = (*loader)->Load("model.layers.1.mlp.up_proj.weight");
  ASSERT_TRUE(up.ok());
  EXPECT_EQ(up->quant, (QuantSpec{2, 32, QuantGrid::kSymmetricHalf}));
  auto q = (*loader)->Load("model.layers.1.self_attn.q_proj.weight");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->quant, (QuantSpec{4, 32, QuantGrid::kAsymmetric}));

  // Flags win over the file's keys.
  const auto r = testing::RunLlmc(QuantizeArgs(dir.File("flags.parquet"),
                                               "--json --bits 8 --sym --no-mse-clip --config " + dir.File("c.yaml")));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const json flagged = json::parse(r.output);
  EXPECT_EQ(flagged["config"]["bits"], 8);
  EXPECT_EQ(flagged["config"]["grid"], "signed");
  EXPECT_EQ(flagged["config"]["mse_clip"], false);
  EXPECT_EQ(TensorsByName(flagged)["model.layers.1.self_attn.q_proj.weight"]["type"], "int8");
}

TEST(CliQuantizeTest, JsonReportHasErrorsSizesAndTime) {
  testing::ScratchDir dir;
  const std::string out = dir.File("int2.parquet");
  const auto r = testing::RunLlmc(QuantizeArgs(out, "--bits 2 --json"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const json j = json::parse(r.output);
  EXPECT_EQ(j["tensors"].size(), 47u);  // 5 layers × 9 + embeddings + final norm
  EXPECT_EQ(j["total_weights"], 260032);
  EXPECT_EQ(j["file_bytes"].get<int64_t>(), *FileSize(out));
  EXPECT_GT(j["seconds"].get<double>(), 0.0);
  EXPECT_NEAR(j["ratio_vs_fp16"].get<double>(), j["bits_per_weight"].get<double>() / 16, 1e-12);
  for (const auto& t : j["tensors"]) {
    const std::string type = t["type"];
    const double rel = t["rel_error"], cos = t["cosine"];
    if (type == "int2") {
      EXPECT_GT(rel, 0.3) << t["name"];
      EXPECT_LT(rel, 0.5) << t["name"];
      EXPECT_GT(cos, 0.85) << t["name"];
    } else {
      EXPECT_LT(rel, 0.012) << t["name"];  // int8 embeddings, f16 norms
      EXPECT_GT(cos, 0.9999) << t["name"];
    }
  }
}

TEST(CliQuantizeTest, TextReportAndHelp) {
  testing::ScratchDir dir;
  const auto r = testing::RunLlmc(QuantizeArgs(dir.File("q.parquet"), "--bits 4 --asym"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("bits/weight"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("largest relative errors"), std::string::npos);
  const auto help = testing::RunLlmc("quantize --help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.output.find("sym_half int2 = {-1.5,-0.5,0.5,1.5}*s"), std::string::npos);
  EXPECT_NE(help.output.find("--no-mse-clip"), std::string::npos);
}

}  // namespace
}  // namespace llmc
