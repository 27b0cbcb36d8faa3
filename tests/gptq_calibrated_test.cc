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
  const QuantSpec two_bit{2, 100, QuantGrid::kSigned};
  std::vector<double> bpw;
  for (int bits : kBitLevels) bpw.push_back(BitsPerWeight({bits, 100, QuantGrid::kSigned}, 100));
  std::vector<BitChoice> t = {{"calm", 1000, 0.001, 2, bpw}, {"touchy", 1000, 1.0, 2, bpw}, {"middle", 1000, 0.1, 2, bpw}};
  // 1000 dense f16 weights beside them count in the budget: 3000 · 2.16 + 1000 · 16 bits over 4000
  // weights is 5.62 at all-2-bit; 6.2 leaves room for about two extra bits on one tensor.
  const double fixed_bits = 16.0 * 1000, total = 4000;
  double achieved = 0;
  ASSERT_TRUE(AssignBits(t, fixed_bits, total, 6.2, achieved).ok());
  EXPECT_EQ(t[0].bits, 2);
  EXPECT_GE(t[1].bits, 3);
  EXPECT_GE(t[1].bits, t[2].bits);
  EXPECT_LE(achieved, 6.2);
  EXPECT_GT(achieved, 5.62);
  EXPECT_NEAR(BitsPerWeight(two_bit, 100), 2.16, 1e-12);
  EXPECT_NEAR(BitsPerWeight({4, 128, QuantGrid::kAsymmetric}, 576), 4.0 + 5 * 24.0 / 576, 1e-12);

  double unused = 0;
  auto too_low = AssignBits(t, fixed_bits, total, 5.0, unused);
  ASSERT_FALSE(too_low.ok());
  EXPECT_NE(too_low.message().find("below 5.62"), std::string::npos) << too_low.message();
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
  std::set<std::string> allocated;
  double max_kl = 0;
  for (const auto& t : alloc["tensors"]) {
    bits.insert(t["bits"].get<int>());
    allocated.insert(t["name"].get<std::string>());
    EXPECT_GE(t["sensitivity_kl"].get<double>(), 0.0);
    max_kl = std::max(max_kl, t["sensitivity_kl"].get<double>());
  }
  EXPECT_GT(max_kl, 0.0);
  EXPECT_GE(bits.size(), 2u);  // a real mix, not one width for all
  EXPECT_EQ(allocated.count("model.embed_tokens.weight"), 1u);  // the embedding takes part
  EXPECT_EQ(allocated.count("model.layers.4.mlp.down_proj.weight"), 1u);
  // The target holds over every stored weight, norms and embedding included, as inspect counts.
  auto loader = WeightLoaderV2::Open(dir.File("mixed.parquet"));
  ASSERT_TRUE(loader.ok());
  int64_t weights = 0, stored_bits = 0;
  for (const TensorInfo& info : (*loader)->tensors()) {
    int64_t n = 1;
    for (int64_t d : info.shape) n *= d;
    weights += n;
    stored_bits += info.stored_bytes * 8;
  }
  const double store_bpw = static_cast<double>(stored_bits) / static_cast<double>(weights);
  EXPECT_LE(store_bpw, 3.0 + 1e-9);
  EXPECT_NEAR(store_bpw, alloc["achieved_bpw"].get<double>(), 1e-9);
  const nlohmann::json& recorded = (*loader)->metadata().extra["quantization"]["tensors"];
  EXPECT_NE(recorded["model.layers.0.self_attn.q_proj.weight"]["rule"].get<std::string>().find("target_bpw 3"),
            std::string::npos);
}

}  // namespace
}  // namespace llmc
