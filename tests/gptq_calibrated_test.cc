// The calibrated backends end to end on stories260K (a real tiny LLaMA): GPTQ layer by layer beats
// RTN at the same bits on held-out text; the store records each tensor's choice; target_bpw mixes
// bit widths by sensitivity within the budget.
#include <gtest/gtest.h>

#include <iostream>
#include <set>

#include "llmc/eval.h"
#include "llmc/import.h"
#include "llmc/store.h"
#include "llmc/tokenizer.h"
#include "quant/calibrated_quantizer.h"
#include "quant/sensitivity.h"
#include "test_util.h"

namespace llmc {
namespace {

std::string CalibText() { return testing::SharedDir() + "/data/calib/tinystories-calib.txt"; }

QuantizationConfig Stories2BitConfig(const std::string& backend) {
  nlohmann::json doc = {{"backend", backend},
                        {"bits", 2},
                        {"group_size", 32},
                        {"calibration", {{"data", CalibText()}, {"samples", 8}, {"seq_len", 128}}}};
  auto config = QuantizationConfig::FromJson(WithCalibratedBackendDefaults(doc));
  EXPECT_TRUE(config.ok()) << config.status().ToString();
  return *config;
}

// Perplexity of a store on text the calibration never saw (the end of the calibration file).
double HeldOutPerplexity(const std::string& store) {
  auto model = Model::Open(store);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  auto tok = Tokenizer::FromSpec((*model)->tokenizer_spec());
  EXPECT_TRUE(tok.ok());
  const std::string text = testing::ReadFile(CalibText());
  const std::vector<int32_t> ids = (*tok)->Encode(text.substr(text.size() - 8000), false);
  PerplexityOptions opts;
  opts.ctx = 256;
  opts.add_bos = true;
  auto ppl = ComputePerplexity(**model, ids, opts);
  EXPECT_TRUE(ppl.ok()) << ppl.status().ToString();
  return ppl->perplexity;
}

TEST(GptqCalibrated, BackendDefaults) {
  const nlohmann::json gptq = WithCalibratedBackendDefaults({{"backend", "gptq"}, {"bits", 2}});
  EXPECT_EQ(gptq["grid"], "sym_half");
  const nlohmann::json angel = WithCalibratedBackendDefaults({{"backend", "angelslim"}, {"grid", "signed"}});
  EXPECT_EQ(angel["bits"], 2);
  EXPECT_EQ(angel["grid"], "signed");  // what the user set wins
  EXPECT_EQ(angel["group_size"], 128);
  EXPECT_EQ(angel["gptq"]["act_order"], true);
  EXPECT_EQ(angel["gptq"]["static_groups"], true);
  EXPECT_FALSE(WithCalibratedBackendDefaults({{"backend", "ptq"}}).contains("grid"));
}

TEST(GptqCalibrated, Stories260KGptqBeatsRtnOnHeldOutText) {
  auto source = ImportModel(testing::Stories260KDir());
  ASSERT_TRUE(source.ok()) << source.status().ToString();
  const QuantizationConfig config = Stories2BitConfig("gptq");
  auto plan = PlanQuantization(config, ShapesOf(*source));
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  testing::ScratchDir dir;

  auto gptq = QuantizeCalibrated(*source, config, *plan, dir.File("gptq.parquet"));
  ASSERT_TRUE(gptq.ok()) << gptq.status().ToString();
  EXPECT_EQ(gptq->calibration["samples"], 8);
  EXPECT_EQ(gptq->calibration["tokens"], 8 * 128);
  // 5 layers × 7 linears, each quantized by GPTQ from its own (or its shared) Hessian.
  ASSERT_EQ(gptq->calibration["tensors"].size(), 35u);
  for (const auto& [name, t] : gptq->calibration["tensors"].items()) {
    EXPECT_EQ(t["method"], "gptq") << name;
    EXPECT_EQ(t["type"], "int2") << name;
    EXPECT_LT(t["output_rel_error"].get<double>(), 0.5) << name;
  }
  auto rtn = QuantizeModel(*source, config, *plan, RtnQuantizer(config), dir.File("rtn.parquet"));
  ASSERT_TRUE(rtn.ok()) << rtn.status().ToString();
  EXPECT_NEAR(gptq->report.bits_per_weight(), rtn->bits_per_weight(), 1e-9);

  const double ppl_gptq = HeldOutPerplexity(dir.File("gptq.parquet"));
  const double ppl_rtn = HeldOutPerplexity(dir.File("rtn.parquet"));
  EXPECT_LT(ppl_gptq, 0.9 * ppl_rtn) << "GPTQ " << ppl_gptq << " vs RTN " << ppl_rtn;
  std::cout << "held-out PPL: GPTQ " << ppl_gptq << ", RTN " << ppl_rtn << "\n";

  auto loader = WeightLoaderV2::Open(dir.File("gptq.parquet"));
  ASSERT_TRUE(loader.ok()) << loader.status().ToString();
  const nlohmann::json& recorded = (*loader)->metadata().extra["quantization"]["tensors"];
  EXPECT_EQ(recorded["model.layers.2.mlp.down_proj.weight"]["rule"], "bits · gptq");
  EXPECT_EQ(recorded["model.layers.2.mlp.down_proj.weight"]["grid"], "sym_half");
}

TEST(GptqCalibrated, MissingCalibrationDataIsAnError) {
  auto source = ImportModel(testing::Stories260KDir());
  ASSERT_TRUE(source.ok());
  auto config = QuantizationConfig::FromJson({{"backend", "gptq"}, {"bits", 2}});
  ASSERT_TRUE(config.ok());
  auto plan = PlanQuantization(*config, ShapesOf(*source));
  ASSERT_TRUE(plan.ok());
  testing::ScratchDir dir;
  auto r = QuantizeCalibrated(*source, *config, *plan, dir.File("out.parquet"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("--calibration-data"), std::string::npos);
  EXPECT_FALSE(testing::RunCommand("test -e " + dir.File("out.parquet")).exit_code == 0);
}

TEST(GptqSensitivity, GreedyKnapsackFavoursSensitiveTensors) {
  std::vector<BitChoice> t = {{"calm", 1000, 0.001, 2}, {"touchy", 1000, 1.0, 2}, {"middle", 1000, 0.1, 2}};
  const std::vector<QuantSpec> specs(3, QuantSpec{2, 100, QuantGrid::kSigned});
  const std::vector<int64_t> cols(3, 100);
  double achieved = 0;
  // 2-bit costs 2.16 bpw here; 2.9 leaves room for about two extra bits on one tensor.
  ASSERT_TRUE(AssignBits(t, specs, cols, 2.9, achieved).ok());
  EXPECT_EQ(t[0].bits, 2);
  EXPECT_GE(t[1].bits, 3);
  EXPECT_GE(t[1].bits, t[2].bits);
  EXPECT_LE(achieved, 2.9);
  EXPECT_GT(achieved, 2.16);
  EXPECT_NEAR(BitsPerWeight({2, 100, QuantGrid::kSigned}, 100), 2.16, 1e-12);
  EXPECT_NEAR(BitsPerWeight({4, 128, QuantGrid::kAsymmetric}, 576), 4.0 + 5 * 24.0 / 576, 1e-12);

  double unused = 0;
  auto too_low = AssignBits(t, specs, cols, 2.0, unused);
  ASSERT_FALSE(too_low.ok());
  EXPECT_NE(too_low.message().find("below 2.16"), std::string::npos) << too_low.message();
}

TEST(GptqSensitivity, TargetBpwMixesBitsWithinBudget) {
  auto source = ImportModel(testing::Stories260KDir());
  ASSERT_TRUE(source.ok());
  QuantizationConfig config = Stories2BitConfig("gptq");
  config.calibration.samples = 4;
  config.target_bpw = 3.0;
  auto plan = PlanQuantization(config, ShapesOf(*source));
  ASSERT_TRUE(plan.ok());
  testing::ScratchDir dir;
  auto r = QuantizeCalibrated(*source, config, *plan, dir.File("mixed.parquet"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const nlohmann::json& alloc = r->calibration["bit_allocation"];
  EXPECT_LE(alloc["achieved_bpw"].get<double>(), 3.0);
  EXPECT_GT(alloc["achieved_bpw"].get<double>(), 2.5);
  std::set<int> bits;
  double max_kl = 0;
  for (const auto& t : alloc["tensors"]) {
    bits.insert(t["bits"].get<int>());
    EXPECT_GE(t["sensitivity_kl"].get<double>(), 0.0);
    max_kl = std::max(max_kl, t["sensitivity_kl"].get<double>());
  }
  EXPECT_GT(max_kl, 0.0);
  EXPECT_GE(bits.size(), 2u);  // a real mix, not one width for all
  auto loader = WeightLoaderV2::Open(dir.File("mixed.parquet"));
  ASSERT_TRUE(loader.ok());
  int64_t linear_weights = 0, linear_bits_x = 0;
  for (const TensorInfo& info : (*loader)->tensors()) {
    if (info.name.find("layers.") == std::string::npos || info.shape.size() != 2) continue;
    int64_t n = info.shape[0] * info.shape[1];
    linear_weights += n;
    linear_bits_x += info.stored_bytes * 8;
  }
  EXPECT_LE(static_cast<double>(linear_bits_x) / linear_weights, 3.0 + 1e-9);
  const nlohmann::json& recorded = (*loader)->metadata().extra["quantization"]["tensors"];
  EXPECT_NE(recorded["model.layers.0.self_attn.q_proj.weight"]["rule"].get<std::string>().find("target_bpw 3"),
            std::string::npos);
}

}  // namespace
}  // namespace llmc
