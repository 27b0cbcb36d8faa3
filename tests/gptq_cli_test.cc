// `llmc quantize --backend gptq|angelslim`: the flags reach the calibrated backend, errors leave no file.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "test_util.h"

namespace llmc {
namespace {

std::string CalibText() { return testing::SharedDir() + "/data/calib/tinystories-calib.txt"; }

TEST(GptqCli, AngelSlimBackendWritesSymHalfStore) {
  testing::ScratchDir dir;
  const std::string out = dir.File("angel.parquet");
  const auto r = testing::RunLlmc("quantize --input " + testing::Stories260KDir() + " --output " + out +
                                  " --backend angelslim --calibration-data " + CalibText() +
                                  " --calib-samples 4 --calib-seq-len 64 --damp 0.02 --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const nlohmann::json j = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  EXPECT_EQ(j["backend"], "angelslim");
  EXPECT_EQ(j["config"]["grid"], "sym_half");
  EXPECT_EQ(j["config"]["gptq"]["act_order"], true);
  EXPECT_EQ(j["config"]["gptq"]["damp"], 0.02);
  EXPECT_EQ(j["calibration"]["samples"], 4);
  EXPECT_EQ(j["calibration"]["tokens"], 4 * 64);
  EXPECT_EQ(j["calibration"]["tensors"]["model.layers.4.mlp.down_proj.weight"]["method"], "gptq");
  EXPECT_TRUE(testing::RunCommand("test -s " + out).exit_code == 0);
}

TEST(GptqCli, MissingCalibrationDataFailsCleanly) {
  testing::ScratchDir dir;
  const std::string out = dir.File("none.parquet");
  const auto r = testing::RunLlmc("quantize --input " + testing::Stories260KDir() + " --output " + out +
                                  " --backend gptq --bits 2");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--calibration-data"), std::string::npos) << r.output;
  EXPECT_NE(testing::RunCommand("test -e " + out).exit_code, 0);
}

TEST(GptqCli, BadJsonlLineIsReportedWithItsLine) {
  testing::ScratchDir dir;
  const std::string out = dir.File("bad.parquet");
  const auto r = testing::RunLlmc("quantize --input " + testing::Stories260KDir() + " --output " + out +
                                  " --backend gptq --bits 2 --calibration-data " + testing::FixturesDir() +
                                  "/calib/bad_json.jsonl");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("bad_json.jsonl:2: not valid JSON"), std::string::npos) << r.output;
  EXPECT_NE(testing::RunCommand("test -e " + out).exit_code, 0);
}

}  // namespace
}  // namespace llmc
