// End to end through the library: stories260K (HF safetensors, F32) → RTN stores → WeightLoaderV2.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "llmc/file.h"
#include "quant/quantize_model.h"
#include "test_util.h"

namespace llmc {
namespace {

double RelativeError(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
    den += static_cast<double>(a[i]) * a[i];
  }
  return std::sqrt(num / den);
}

QuantizationConfig Config(const nlohmann::json& j) {
  auto c = QuantizationConfig::FromJson(j);
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return *c;
}

struct Stories {
  ImportedModel model;
  std::map<std::string, std::vector<float>> original;  // every tensor as F32
};

const Stories& LoadStories() {
  static const Stories* stories = [] {
    auto* s = new Stories;
    auto model = ImportModel(testing::Stories260KDir());
    EXPECT_TRUE(model.ok()) << model.status().ToString();
    s->model = *model;
    for (const auto& t : s->model.tensors) s->original[t.name] = DequantizeToFloat(*t.load());
    return s;
  }();
  return *stories;
}

struct BitsCase {
  int bits;
  double max_rel_error;  // over every quantized matrix
  double min_rel_error;  // quantization really happened
};

// Storage from the format's definition: per row, ⌈cols·bits/8⌉ code bytes and a 2-byte scale per group
// (stories260K has no asymmetric tensors here); dense tensors 2 bytes a weight.
int64_t ExpectedBytes(const TensorPlan& p) {
  const int64_t cols = p.shape.back();
  int64_t rows = 1;
  for (size_t d = 0; d + 1 < p.shape.size(); ++d) rows *= p.shape[d];
  if (!p.quantize) return rows * cols * 2;
  const int64_t groups = (cols + p.spec.group_size - 1) / p.spec.group_size;
  return rows * ((cols * p.spec.bits + 7) / 8 + 2 * groups);
}

// RTN on near-Gaussian weights: a step of s gives an rms error ≈ s/√12; the step is ~2·max|w| / 2^b over
// each group. With groups of 128 (64 for stories260K's 64-wide rows, per channel at 8 bits) that is
// ≈0.7% at 8 bits, ≈10% at 4 and ≈45% at 2 (clipping included).
TEST(QuantModelTest, Stories260KStoresLoadBackWithTheExpectedError) {
  const Stories& stories = LoadStories();
  const BitsCase cases[] = {{8, 0.012, 0.003}, {4, 0.13, 0.06}, {2, 0.50, 0.30}};
  for (const auto& c : cases) {
    SCOPED_TRACE(fmt::format("int{}", c.bits));
    const QuantizationConfig config = Config({{"bits", c.bits}});
    auto plan = PlanQuantization(config, ShapesOf(stories.model));
    ASSERT_TRUE(plan.ok()) << plan.status().ToString();
    testing::ScratchDir dir;
    const std::string out = dir.File("q.parquet");
    auto report = QuantizeModel(stories.model, config, *plan, RtnQuantizer(config), out);
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    ASSERT_EQ(report->tensors.size(), stories.model.tensors.size());
    int64_t expected_bytes = 0, weights = 0;
    for (size_t i = 0; i < plan->size(); ++i) {
      EXPECT_EQ(report->tensors[i].stored_bytes, ExpectedBytes((*plan)[i])) << (*plan)[i].name;
      expected_bytes += ExpectedBytes((*plan)[i]);
      weights += report->tensors[i].numel;
    }
    EXPECT_EQ(weights, 260032);  // stories260K's parameter count
    EXPECT_DOUBLE_EQ(report->bits_per_weight(), 8.0 * expected_bytes / weights);
    EXPECT_DOUBLE_EQ(report->ratio_vs_fp16(), expected_bytes / (2.0 * weights));

    auto loader = WeightLoaderV2::Open(out);
    ASSERT_TRUE(loader.ok()) << loader.status().ToString();
    const nlohmann::json& recorded = (*loader)->metadata().extra["quantization"];
    EXPECT_EQ(recorded["config"]["bits"], c.bits);
    for (size_t i = 0; i < plan->size(); ++i) {
      const TensorPlan& p = (*plan)[i];
      auto stored = (*loader)->Load(p.name);
      ASSERT_TRUE(stored.ok()) << stored.status().ToString();
      EXPECT_EQ(stored->quantized(), p.quantize) << p.name;
      EXPECT_EQ(recorded["tensors"][p.name]["type"], stored->type_name()) << p.name;
      auto dense = (*loader)->LoadDequantized(p.name, DType::kF32);
      ASSERT_TRUE(dense.ok());
      const double rel = RelativeError(stories.original.at(p.name), DequantizeToFloat(*dense));
      EXPECT_NEAR(report->tensors[i].rel_error, rel, 1e-6) << p.name;
      if (!p.quantize) {
        EXPECT_LT(rel, 1e-3) << p.name << " kept as f16";
        continue;
      }
      EXPECT_EQ(stored->quant, p.spec) << p.name;
      const double max_rel = p.spec.bits == 8 ? 0.012 : c.max_rel_error;
      const double min_rel = p.spec.bits == 8 ? 0.003 : c.min_rel_error;
      EXPECT_LT(rel, max_rel) << p.name;
      EXPECT_GT(rel, min_rel) << p.name;
    }
  }
}

// Measured on real weights: the clip search lowers the 2- and 4-bit error of every matrix of stories260K.
TEST(QuantModelTest, MseClippingLowersTheErrorOfRealWeights) {
  const Stories& stories = LoadStories();
  for (int bits : {2, 4}) {
    for (const auto& t : stories.model.tensors) {
      if (t.shape.size() != 2 || t.name == "model.embed_tokens.weight") continue;
      const WeightTensor w = *t.load();
      RtnOptions plain;
      plain.mse_clip = false;
      auto unclipped = QuantizeRtn(w, {bits, 128, QuantGrid::kSigned}, plain);
      auto clipped = QuantizeRtn(w, {bits, 128, QuantGrid::kSigned});
      ASSERT_TRUE(unclipped.ok() && clipped.ok());
      const auto& orig = stories.original.at(t.name);
      EXPECT_LT(RelativeError(orig, DequantizeToFloat(*clipped)), 0.97 * RelativeError(orig, DequantizeToFloat(*unclipped)))
          << "int" << bits << " " << t.name;
    }
  }
}

// A store is a source too: an int8 store requantized to int4 stays close to the original weights.
TEST(QuantModelTest, RequantizesFromAnLlmcStore) {
  const Stories& stories = LoadStories();
  testing::ScratchDir dir;
  const QuantizationConfig int8 = Config({{"bits", 8}});
  auto plan8 = PlanQuantization(int8, ShapesOf(stories.model));
  ASSERT_TRUE(plan8.ok());
  ASSERT_TRUE(QuantizeModel(stories.model, int8, *plan8, RtnQuantizer(int8), dir.File("int8.parquet")).ok());

  auto source = OpenQuantizationSource(dir.File("int8.parquet"));
  ASSERT_TRUE(source.ok()) << source.status().ToString();
  EXPECT_EQ(source->source_format, "llmc");
  ASSERT_EQ(source->tensors.size(), stories.model.tensors.size());
  const QuantizationConfig int4 = Config({{"bits", 4}});
  auto plan4 = PlanQuantization(int4, ShapesOf(*source));
  ASSERT_TRUE(plan4.ok());
  ASSERT_TRUE(QuantizeModel(*source, int4, *plan4, RtnQuantizer(int4), dir.File("int4.parquet")).ok());
  auto loader = WeightLoaderV2::Open(dir.File("int4.parquet"));
  ASSERT_TRUE(loader.ok());
  const std::string name = "model.layers.2.mlp.down_proj.weight";
  auto w = (*loader)->LoadDequantized(name, DType::kF32);
  ASSERT_TRUE(w.ok());
  EXPECT_LT(RelativeError(stories.original.at(name), DequantizeToFloat(*w)), 0.13);
}

// A backend that fails part-way leaves nothing at the output path (the store is written under a
// temporary name); the error from the backend reaches the caller unchanged.
TEST(QuantModelTest, AFailingBackendLeavesNoOutput) {
  const Stories& stories = LoadStories();
  const QuantizationConfig config = Config({{"bits", 4}});
  auto plan = PlanQuantization(config, ShapesOf(stories.model));
  ASSERT_TRUE(plan.ok());
  int calls = 0;
  TensorQuantizer failing = [&calls](const WeightTensor& dense, const TensorPlan& p) -> Result<WeightTensor> {
    if (++calls == 3) return Status::Invalid("tensor '{}': refused by the test backend", p.name);
    return QuantizeRtn(dense, p.spec);
  };
  testing::ScratchDir dir;
  auto report = QuantizeModel(stories.model, config, *plan, failing, dir.File("out.parquet"));
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.status().message().find("refused by the test backend"), std::string::npos);
  EXPECT_FALSE(FileExists(dir.File("out.parquet")));
}

// The design notes' bar — an INT2 store under 15% of FP16 — on the default real model. With the default
// 8-bit embeddings it cannot be met (SmolLM2's tied embedding is 21% of its weights); with
// embedding_bits 2 it is. Heavier test: quantizes all 135M weights.
TEST(QuantModelTest, SmolLM2Int2UnderFifteenPercentOfFp16OnlyWithTwoBitEmbeddings) {
  const std::string gguf = testing::SmolLM2GgufPath();
  ASSERT_FALSE(gguf.empty()) << "the SmolLM2 GGUF is installed by scripts/setup.sh";
  auto model = ImportModel(gguf);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto plan_bytes = [&](const std::vector<TensorPlan>& plan) {
    int64_t bytes = 0, weights = 0;
    for (const auto& p : plan) {
      bytes += ExpectedBytes(p);
      weights += p.shape.size() == 1 ? p.shape[0] : p.shape[0] * p.shape[1];
    }
    return std::pair{bytes, weights};
  };
  const QuantizationConfig defaults = Config({{"bits", 2}});
  auto default_plan = PlanQuantization(defaults, ShapesOf(*model));
  ASSERT_TRUE(default_plan.ok());
  const auto [default_bytes, weights] = plan_bytes(*default_plan);
  EXPECT_EQ(weights, 134515008);
  EXPECT_GT(default_bytes, 0.20 * 2 * weights);  // 8-bit embeddings: 21% of FP16

  const QuantizationConfig config = Config({{"bits", 2}, {"embedding_bits", 2}});
  auto plan = PlanQuantization(config, ShapesOf(*model));
  ASSERT_TRUE(plan.ok());
  testing::ScratchDir dir;
  auto report = QuantizeModel(*model, config, *plan, RtnQuantizer(config), dir.File("int2.parquet"));
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->stored_bytes(), plan_bytes(*plan).first);
  EXPECT_LT(report->ratio_vs_fp16(), 0.15);
  EXPECT_LT(static_cast<double>(report->file_bytes), 0.15 * 2 * weights);  // Parquet framing included
  for (const auto& t : report->tensors) {
    if (t.stored_type != "int2") continue;
    EXPECT_GT(t.rel_error, 0.3) << t.name;
    EXPECT_LT(t.rel_error, 0.55) << t.name;
  }
  auto loader = WeightLoaderV2::Open(dir.File("int2.parquet"));
  ASSERT_TRUE(loader.ok());
  auto embed = (*loader)->Load("model.embed_tokens.weight");
  ASSERT_TRUE(embed.ok());
  EXPECT_EQ(embed->quant, (QuantSpec{2, 128, QuantGrid::kSigned}));
}

}  // namespace
}  // namespace llmc
