// `llmc compare` end to end on stories260K: stores, report files and sane orderings of the numbers.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "llmc/file.h"
#include "test_util.h"

namespace llmc {
namespace {

TEST(CliCompareTest, PtqBackendsOnStories260K) {
  testing::ScratchDir dir;
  const std::string out = dir.File("cmp");
  const auto r = testing::RunLlmc("compare --input " + testing::Stories260KDir() +
                                  " --backends ptq-int8,ptq-int2 --text " + testing::SharedDir() +
                                  "/data/eval/tinystories-eval.txt --ctx 128 --chunks 4 --output-dir " + out + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* f : {"report.md", "report.json", "plot.svg", "ptq-int8.parquet", "ptq-int2.parquet",
                        "reference-f16.parquet"}) {
    EXPECT_TRUE(FileExists(out + "/" + f)) << f;
  }
  const auto j = nlohmann::json::parse(testing::ReadFile(out + "/report.json"));
  ASSERT_EQ(j["backends"].size(), 2u);
  const auto& int8 = j["backends"][0];
  const auto& int2 = j["backends"][1];
  EXPECT_EQ(int8["backend"], "ptq-int8");
  EXPECT_GT(int8["logits_cosine"].get<double>(), 0.99);
  EXPECT_LT(std::abs(int8["ppl_increase_pct"].get<double>()), 5.0);
  EXPECT_GT(int2["perplexity"].get<double>(), int8["perplexity"].get<double>());
  EXPECT_LT(int2["bits_per_weight"].get<double>(), int8["bits_per_weight"].get<double>());
  EXPECT_GT(int8["ratio_vs_fp16"].get<double>(), 1.0);
  EXPECT_GT(j["reference_perplexity"].get<double>(), 1.0);
}

TEST(CliCompareTest, RejectsUnknownBackendBeforeDoingAnyWork) {
  testing::ScratchDir dir;
  const auto r = testing::RunLlmc("compare --input " + testing::Stories260KDir() + " --backends ptq-int5x --text " +
                                  testing::SharedDir() + "/data/eval/tinystories-eval.txt --output-dir " +
                                  dir.File("cmp"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("ptq-int5x"), std::string::npos) << r.output;
  EXPECT_FALSE(FileExists(dir.File("cmp/reference-f16.parquet")));
}

TEST(CliCompareTest, CalibratedBackendNeedsCalibrationData) {
  testing::ScratchDir dir;
  const auto r = testing::RunLlmc("compare --input " + testing::Stories260KDir() + " --backends gptq-2bit --text " +
                                  testing::SharedDir() + "/data/eval/tinystories-eval.txt --output-dir " +
                                  dir.File("cmp"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--calibration-data"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace llmc
