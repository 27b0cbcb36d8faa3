#include <gtest/gtest.h>

#include "io/hf_config.h"

namespace llmc {
namespace {

using nlohmann::json;

json BaseConfig(const char* model_type) {
  return {{"model_type", model_type}, {"hidden_size", 64},   {"intermediate_size", 128},
          {"num_hidden_layers", 2},   {"num_attention_heads", 4}, {"vocab_size", 100}};
}

TEST(IoHfConfigTest, DefaultsForHeadDimKvHeadsAndTying) {
  auto c = ModelConfigFromHfJson(BaseConfig("llama"), "config.json");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->arch, Architecture::kLlama);
  EXPECT_EQ(c->head_dim, 16);
  EXPECT_EQ(c->num_kv_heads, 4);
  EXPECT_FALSE(c->tie_word_embeddings);
  EXPECT_FALSE(c->attention_bias);
  EXPECT_FALSE(c->qk_norm);
  EXPECT_EQ(c->sliding_window, 0);
  EXPECT_EQ(c->rope_scaling.type, "none");
  EXPECT_EQ(c->bos_token_id, -1);
}

TEST(IoHfConfigTest, ArchitecturesListWhenModelTypeIsAbsent) {
  json j = BaseConfig("llama");
  j.erase("model_type");
  j["architectures"] = {"MistralForCausalLM"};
  auto c = ModelConfigFromHfJson(j, "config.json");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->arch, Architecture::kMistral);

  j["architectures"] = {"GPTNeoXForCausalLM"};
  auto bad = ModelConfigFromHfJson(j, "/m/config.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(bad.status().message().find("GPTNeoXForCausalLM"), std::string::npos);
  EXPECT_NE(bad.status().message().find("/m/config.json"), std::string::npos);

  auto unknown_type = ModelConfigFromHfJson(BaseConfig("gemma"), "/m/config.json");
  ASSERT_FALSE(unknown_type.ok());
  EXPECT_EQ(unknown_type.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(unknown_type.status().message().find("gemma"), std::string::npos);
}

TEST(IoHfConfigTest, Qwen2HasBiasesAndHonoursUseSlidingWindow) {
  json j = BaseConfig("qwen2");
  j["sliding_window"] = 4096;
  j["use_sliding_window"] = false;
  j["eos_token_id"] = {151645, 151643};
  auto c = ModelConfigFromHfJson(j, "config.json");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_TRUE(c->attention_bias);
  EXPECT_FALSE(c->qk_norm);
  EXPECT_EQ(c->sliding_window, 0);
  EXPECT_EQ(c->eos_token_id, 151645);

  j["use_sliding_window"] = true;
  j["attention_bias"] = false;
  c = ModelConfigFromHfJson(j, "config.json");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->sliding_window, 4096);
  EXPECT_FALSE(c->attention_bias);
}

TEST(IoHfConfigTest, QwenWithoutUseSlidingWindowKeyHasFullAttention) {
  json j = BaseConfig("qwen2");
  j["sliding_window"] = 4096;  // declared, but transformers' Qwen2Config defaults use_sliding_window to false
  auto c = ModelConfigFromHfJson(j, "config.json");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->sliding_window, 0);
}

TEST(IoHfConfigTest, Transformers5RopeParametersLayout) {
  json j = BaseConfig("llama");
  j.erase("rope_theta");
  j["rope_parameters"] = {{"rope_type", "llama3"}, {"rope_theta", 500000.0}, {"factor", 8.0},
                          {"low_freq_factor", 1.0}, {"high_freq_factor", 4.0},
                          {"original_max_position_embeddings", 8192}};
  auto c = ModelConfigFromHfJson(j, "config.json");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->rope_theta, 500000.0);
  EXPECT_EQ(c->rope_scaling.type, "llama3");
  EXPECT_EQ(c->rope_scaling.factor, 8.0);
  EXPECT_EQ(c->rope_scaling.original_max_position, 8192);
  j["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", 1e6}};
  c = ModelConfigFromHfJson(j, "config.json");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->rope_theta, 1e6);
  EXPECT_EQ(c->rope_scaling.type, "none");
}

TEST(IoHfConfigTest, Qwen3HasQkNormAndExplicitHeadDim) {
  json j = BaseConfig("qwen3");
  j["head_dim"] = 32;
  j["num_key_value_heads"] = 2;
  j["attention_bias"] = false;
  j["use_sliding_window"] = false;
  auto c = ModelConfigFromHfJson(j, "config.json");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_TRUE(c->qk_norm);
  EXPECT_FALSE(c->attention_bias);
  EXPECT_EQ(c->head_dim, 32);
  EXPECT_EQ(c->num_kv_heads, 2);
}

TEST(IoHfConfigTest, MistralSlidingWindowNullMeansFullAttention) {
  json j = BaseConfig("mistral");
  j["sliding_window"] = nullptr;
  auto c = ModelConfigFromHfJson(j, "config.json");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->sliding_window, 0);
  j["sliding_window"] = 4096;
  c = ModelConfigFromHfJson(j, "config.json");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->sliding_window, 4096);
}

TEST(IoHfConfigTest, RopeScalingLinearAndLlama3) {
  json j = BaseConfig("llama");
  j["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}};
  auto c = ModelConfigFromHfJson(j, "config.json");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->rope_scaling.type, "linear");
  EXPECT_DOUBLE_EQ(c->rope_scaling.factor, 2.0);

  j["rope_scaling"] = {{"rope_type", "llama3"},
                       {"factor", 8.0},
                       {"low_freq_factor", 1.0},
                       {"high_freq_factor", 4.0},
                       {"original_max_position_embeddings", 8192}};
  c = ModelConfigFromHfJson(j, "config.json");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->rope_scaling.type, "llama3");
  EXPECT_DOUBLE_EQ(c->rope_scaling.factor, 8.0);
  EXPECT_DOUBLE_EQ(c->rope_scaling.high_freq_factor, 4.0);
  EXPECT_EQ(c->rope_scaling.original_max_position, 8192);

  j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
  c = ModelConfigFromHfJson(j, "config.json");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(c.status().message().find("yarn"), std::string::npos);
}

TEST(IoHfConfigTest, MissingOrMistypedKeysAreNamed) {
  json j = BaseConfig("llama");
  j.erase("hidden_size");
  auto c = ModelConfigFromHfJson(j, "/m/config.json");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("hidden_size"), std::string::npos);
  EXPECT_NE(c.status().message().find("/m/config.json"), std::string::npos);

  j = BaseConfig("llama");
  j["num_attention_heads"] = "four";
  c = ModelConfigFromHfJson(j, "config.json");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kCorrupt);
  EXPECT_NE(c.status().message().find("num_attention_heads"), std::string::npos);

  j = BaseConfig("llama");
  j["num_key_value_heads"] = 3;  // 4 heads are not a multiple of 3 KV heads
  c = ModelConfigFromHfJson(j, "/m/config.json");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("num_kv_heads"), std::string::npos);
  EXPECT_NE(c.status().message().find("/m/config.json"), std::string::npos);
}

}  // namespace
}  // namespace llmc
