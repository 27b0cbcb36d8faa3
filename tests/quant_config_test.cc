#include <gtest/gtest.h>

#include "llmc/quant_config.h"
#include "quant/quantize_model.h"

namespace llmc {
namespace {

using json = nlohmann::json;

constexpr const char* kYaml = R"(
backend: gptq
bits: 3
group_size: 64
grid: asym
mse_clip: false
skip: ["*.mlp.down_proj.*"]
overrides:
  - {pattern: "*.self_attn.*", bits: 4}
  - pattern: "re:layers\\.0\\."
    group_size: 32
    grid: sym_half
embedding_bits: 16
dense_dtype: bf16
calibration: {data: "calib.txt", samples: 64, seq_len: 256}
gptq: {block_size: 64, damp: 0.05, act_order: true, static_groups: false}
target_bpw: 2.5
activation_aware: true
)";

constexpr const char* kJson = R"({
  "backend": "gptq", "bits": 3, "group_size": 64, "grid": "asym", "mse_clip": false,
  "skip": ["*.mlp.down_proj.*"],
  "overrides": [{"pattern": "*.self_attn.*", "bits": 4},
                {"pattern": "re:layers\\.0\\.", "group_size": 32, "grid": "sym_half"}],
  "embedding_bits": 16, "dense_dtype": "bf16",
  "calibration": {"data": "calib.txt", "samples": 64, "seq_len": 256},
  "gptq": {"block_size": 64, "damp": 0.05, "act_order": true, "static_groups": false},
  "target_bpw": 2.5, "activation_aware": true
})";

TEST(QuantConfigTest, YamlAndJsonParseToTheSameConfig) {
  auto from_yaml = QuantizationConfig::FromYaml(kYaml);
  ASSERT_TRUE(from_yaml.ok()) << from_yaml.status().ToString();
  auto from_json = QuantizationConfig::FromJson(json::parse(kJson));
  ASSERT_TRUE(from_json.ok()) << from_json.status().ToString();
  EXPECT_EQ(from_yaml->ToJson(), from_json->ToJson());

  const QuantizationConfig& c = *from_yaml;
  EXPECT_EQ(c.backend, "gptq");
  EXPECT_EQ(c.bits, 3);
  EXPECT_EQ(c.group_size, 64);
  EXPECT_EQ(c.grid, QuantGrid::kAsymmetric);
  EXPECT_FALSE(c.mse_clip);
  ASSERT_EQ(c.overrides.size(), 2u);
  EXPECT_EQ(c.overrides[0].bits, 4);
  EXPECT_FALSE(c.overrides[0].grid.has_value());
  EXPECT_EQ(c.overrides[1].pattern, "re:layers\\.0\\.");
  EXPECT_EQ(c.overrides[1].group_size, 32);
  EXPECT_EQ(c.overrides[1].grid, QuantGrid::kSymmetricHalf);
  EXPECT_EQ(c.embedding_bits, 16);
  EXPECT_EQ(c.dense_dtype, DType::kBF16);
  EXPECT_EQ(c.calibration.samples, 64);
  EXPECT_EQ(c.gptq.block_size, 64);
  EXPECT_DOUBLE_EQ(c.gptq.damp, 0.05);
  EXPECT_TRUE(c.gptq.act_order);
  EXPECT_EQ(c.target_bpw, 2.5);
  EXPECT_TRUE(c.activation_aware);

  auto again = QuantizationConfig::FromJson(c.ToJson());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->ToJson(), c.ToJson());
}

TEST(QuantConfigTest, DefaultsFollowTheDesign) {
  auto c = QuantizationConfig::FromJson({{"bits", 2}});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->backend, "ptq");
  EXPECT_EQ(c->grid, QuantGrid::kSigned);
  EXPECT_TRUE(c->mse_clip);
  EXPECT_EQ(c->embedding_bits, 8);
  EXPECT_EQ(c->dense_dtype, DType::kF16);
  EXPECT_EQ(c->calibration.samples, 128);
  EXPECT_EQ(c->calibration.seq_len, 512);
  EXPECT_EQ(c->gptq.block_size, 128);
  EXPECT_DOUBLE_EQ(c->gptq.damp, 0.01);
  EXPECT_FALSE(c->gptq.act_order);
  EXPECT_TRUE(c->gptq.static_groups);
}

struct BadConfig {
  const char* yaml;
  const char* message;  // must appear in the error
};

TEST(QuantConfigTest, BadKeysAndValuesAreNamedInTheError) {
  const BadConfig cases[] = {
      {"bits: 4\nbitz: 2", "unknown key 'bitz'"},
      {"bits: 4\ngptq: {damp: 0.1, blocksize: 4}", "unknown key 'gptq.blocksize'"},
      {"bits: 4\noverrides: [{pattern: '*', bit: 2}]", "unknown key 'overrides[0].bit'"},
      {"bits: 5", "bits 5 (expected 2, 3, 4 or 8)"},
      {"bits: 3", "bits 3 needs backend gptq"},
      {"bits: four", "bits \"four\" (expected an integer)"},
      {"group_size: 0\nbits: 4", "group_size 0 (expected > 0)"},
      {"bits: 4\ngroup_size: -32", "group_size -32 (expected > 0)"},
      {"bits: 4\ngrid: int", "grid: unknown quantization grid 'int'"},
      {"bits: 4\nbackend: awq", "backend 'awq' (expected ptq, gptq or angelslim)"},
      {"bits: 4\nmse_clip: maybe", "mse_clip \"maybe\" (expected true or false)"},
      {"bits: 4\nskip: '*.norm'", "skip \"*.norm\" (expected a list of patterns)"},
      {"bits: 4\nskip: ['re:(']", "skip[0]: pattern 're:(': not a valid regular expression"},
      {"bits: 4\noverrides: [{bits: 2}]", "overrides[0] has no 'pattern'"},
      {"bits: 4\noverrides: [{pattern: '*', bits: 6}]", "overrides[0].bits 6 (expected 2, 3, 4 or 8)"},
      {"bits: 4\nembedding_bits: 12", "embedding_bits 12 (expected 2, 4, 8 or 16)"},
      {"bits: 4\ndense_dtype: f8", "dense_dtype 'f8' (expected f16, bf16 or f32)"},
      {"bits: 4\ncalibration: {samples: 0}", "calibration.samples 0 (expected > 0)"},
      {"bits: 4\ngptq: {damp: 2}", "gptq.damp 2 (expected 0 to 1)"},
      {"bits: 4\ntarget_bpw: 0", "target_bpw 0 (expected > 0 and <= 16)"},
      {"group_size: 64", "bits is not set"},
      {"bits: [4", "YAML parse error"},
  };
  for (const auto& c : cases) {
    auto r = QuantizationConfig::FromYaml(c.yaml);
    ASSERT_FALSE(r.ok()) << c.yaml;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << c.yaml;
    EXPECT_NE(r.status().message().find(c.message), std::string::npos)
        << c.yaml << "\n  got: " << r.status().message() << "\n  want: " << c.message;
  }
}

TEST(QuantConfigTest, PatternsAreGlobsOrRegularExpressions) {
  EXPECT_TRUE(*MatchesPattern("*.mlp.*", "model.layers.3.mlp.up_proj.weight"));
  EXPECT_FALSE(*MatchesPattern("*.mlp.*", "model.layers.3.self_attn.q_proj.weight"));
  EXPECT_TRUE(*MatchesPattern("model.layers.?.self_attn.*", "model.layers.7.self_attn.o_proj.weight"));
  EXPECT_FALSE(*MatchesPattern("model.layers.?.self_attn.*", "model.layers.17.self_attn.o_proj.weight"));
  EXPECT_TRUE(*MatchesPattern("re:layers\\.(0|1)\\.", "model.layers.1.mlp.up_proj.weight"));
  EXPECT_FALSE(*MatchesPattern("re:layers\\.(0|1)\\.", "model.layers.10.mlp.up_proj.weight"));
}

std::vector<TensorShape> TinyModel() {
  std::vector<TensorShape> t = {{"model.embed_tokens.weight", {512, 64}}, {"model.norm.weight", {64}},
                                {"lm_head.weight", {512, 64}}};
  for (int l = 0; l < 2; ++l) {
    const std::string p = fmt::format("model.layers.{}.", l);
    t.push_back({p + "input_layernorm.weight", {64}});
    t.push_back({p + "self_attn.q_proj.weight", {64, 64}});
    t.push_back({p + "mlp.down_proj.weight", {64, 172}});
    t.push_back({p + "mlp.up_proj.weight", {172, 64}});
  }
  return t;
}

const TensorPlan& Find(const std::vector<TensorPlan>& plan, const std::string& name) {
  for (const auto& p : plan) {
    if (p.name == name) return p;
  }
  throw std::runtime_error("no plan for " + name);
}

TEST(QuantPlanTest, DefaultsKeepNormsDenseEmbeddingsAtEightBitsPerChannel) {
  auto config = QuantizationConfig::FromJson({{"bits", 2}});
  ASSERT_TRUE(config.ok());
  auto plan = PlanQuantization(*config, TinyModel());
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  ASSERT_EQ(plan->size(), TinyModel().size());
  const TensorPlan& norm = Find(*plan, "model.norm.weight");
  EXPECT_FALSE(norm.quantize);
  EXPECT_EQ(norm.dense_dtype, DType::kF16);
  EXPECT_EQ(norm.rule, "1-D");
  for (const char* name : {"model.embed_tokens.weight", "lm_head.weight"}) {
    const TensorPlan& e = Find(*plan, name);
    EXPECT_TRUE(e.quantize);
    EXPECT_EQ(e.spec, (QuantSpec{8, 64, QuantGrid::kSigned})) << name;  // one group per 64-wide row
  }
  const TensorPlan& down = Find(*plan, "model.layers.1.mlp.down_proj.weight");
  EXPECT_EQ(down.spec, (QuantSpec{2, 128, QuantGrid::kSigned}));
  EXPECT_EQ(down.rule, "bits");
}

TEST(QuantPlanTest, SkipEmbeddingBitsAndOverridesApplyInOrder) {
  auto config = QuantizationConfig::FromYaml(R"(
bits: 2
group_size: 64
grid: asym
embedding_bits: 4
skip: ["*.down_proj.*"]
overrides:
  - {pattern: "*.self_attn.*", bits: 4}
  - {pattern: "re:layers\\.1\\.self", group_size: 32, grid: signed}
  - {pattern: "lm_head.weight", bits: 8}
)");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  auto plan = PlanQuantization(*config, TinyModel());
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_FALSE(Find(*plan, "model.layers.0.mlp.down_proj.weight").quantize);
  EXPECT_EQ(Find(*plan, "model.layers.0.mlp.down_proj.weight").rule, "skip '*.down_proj.*'");
  EXPECT_EQ(Find(*plan, "model.embed_tokens.weight").spec, (QuantSpec{4, 64, QuantGrid::kAsymmetric}));
  EXPECT_EQ(Find(*plan, "lm_head.weight").spec, (QuantSpec{8, 64, QuantGrid::kAsymmetric}));  // per channel
  EXPECT_EQ(Find(*plan, "model.layers.0.self_attn.q_proj.weight").spec, (QuantSpec{4, 64, QuantGrid::kAsymmetric}));
  const TensorPlan& q1 = Find(*plan, "model.layers.1.self_attn.q_proj.weight");
  EXPECT_EQ(q1.spec, (QuantSpec{4, 32, QuantGrid::kSigned}));
  EXPECT_EQ(q1.rule, "override 're:layers\\.1\\.self'");
  EXPECT_EQ(Find(*plan, "model.layers.1.mlp.up_proj.weight").spec, (QuantSpec{2, 64, QuantGrid::kAsymmetric}));
}

TEST(QuantPlanTest, EightBitsWithAnExplicitGroupSizeAndDenseEmbeddings) {
  auto config = QuantizationConfig::FromJson({{"bits", 8}, {"group_size", 32}, {"embedding_bits", 16}});
  ASSERT_TRUE(config.ok());
  auto plan = PlanQuantization(*config, TinyModel());
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(Find(*plan, "model.layers.0.mlp.up_proj.weight").spec, (QuantSpec{8, 32, QuantGrid::kSigned}));
  EXPECT_FALSE(Find(*plan, "model.embed_tokens.weight").quantize);
}

TEST(QuantPlanTest, APatternThatMatchesNothingIsAnError) {
  for (const char* yaml : {"bits: 4\nskip: ['*.mlp.gate_proj.*']", "bits: 4\noverrides: [{pattern: 're:experts', bits: 2}]"}) {
    auto config = QuantizationConfig::FromYaml(yaml);
    ASSERT_TRUE(config.ok());
    auto plan = PlanQuantization(*config, TinyModel());
    ASSERT_FALSE(plan.ok()) << yaml;
    EXPECT_NE(plan.status().message().find("matches no tensor of the model"), std::string::npos);
    EXPECT_TRUE(plan.status().message().find("gate_proj") != std::string::npos ||
                plan.status().message().find("re:experts") != std::string::npos);
  }
}

}  // namespace
}  // namespace llmc
