#pragma once
// ONNX Runtime for the tests: runs an exported model through tests/onnx/ort_run.js on Node.js with
// the npm package onnxruntime-node, which cmake/install-deps.sh puts in build/tools (CI installs
// it; a test that needs it is skipped, saying so, where it is absent, unless
// TAPEFLOW_REQUIRE_ONNXRUNTIME=1, as .ci/run sets, makes that a failure).
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "tapeflow/tapeflow.h"

namespace tft::ort {

namespace fs = std::filesystem;

inline std::string node_path() {
  const char* env = std::getenv("TAPEFLOW_ONNXRUNTIME_NODE_PATH");
  return env ? env : TAPEFLOW_ORT_NODE_PATH;
}

/// Whether ONNX Runtime can run here: a precondition for the tests that need it.
inline boost::test_tools::assertion_result available(boost::unit_test::test_unit_id = 0) {
  const bool found = std::system("node --version > /dev/null 2>&1") == 0 &&
                     fs::exists(fs::path(node_path()) / "onnxruntime-node" / "package.json");
  const char* required = std::getenv("TAPEFLOW_REQUIRE_ONNXRUNTIME");
  if (found || (required && std::string(required) == "1")) return true;  // a required one fails in run()
  boost::test_tools::assertion_result r(false);
  r.message() << "ONNX Runtime is not installed (node and onnxruntime-node in " << node_path()
              << "): run cmake/install-deps.sh to run this test";
  return r;
}

inline const char* dtype_text(tapeflow::DType dt) {
  switch (dt) {
    case tapeflow::float32: return "float32";
    case tapeflow::float64: return "float64";
    case tapeflow::int32: return "int32";
    case tapeflow::int64: return "int64";
    case tapeflow::uint8: return "uint8";
    default: return "bool";
  }
}

/// Runs `model` on `inputs` (name, value) and returns its outputs in the model's order.
inline std::vector<tapeflow::Tensor> run(const std::string& model,
                                         const std::vector<std::pair<std::string, tapeflow::Tensor>>& inputs) {
  static int count = 0;
  const fs::path dir = fs::temp_directory_path() / fmt::format("tapeflow_ort_{}_{}", ::getpid(), count++);
  fs::create_directories(dir);
  std::string specs = "[";
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const tapeflow::Tensor& t = inputs[i].second;
    std::ofstream(dir / fmt::format("in_{}.bin", i), std::ios::binary)
        .write(static_cast<const char*>(t.raw_data()), static_cast<std::streamsize>(t.nbytes()));
    specs += fmt::format("{}{{\"name\":\"{}\",\"dtype\":\"{}\",\"shape\":[{}]}}", i ? "," : "", inputs[i].first,
                         dtype_text(t.dtype()), fmt::join(t.shape().vec(), ","));
  }
  std::ofstream(dir / "inputs.json") << specs << "]";
  const std::string log = (dir / "log.txt").string();
  const std::string command = fmt::format("NODE_PATH='{}' node '{}/ort_run.js' '{}' '{}' > '{}' 2>&1", node_path(),
                                          TAPEFLOW_TEST_ONNX_DIR, model, dir.string(), log);
  if (std::system(command.c_str()) != 0) {
    std::stringstream text;
    text << std::ifstream(log).rdbuf();
    fs::remove_all(dir);
    BOOST_FAIL("ONNX Runtime failed on " << model << ": " << text.str());
  }
  std::stringstream json;
  json << std::ifstream(dir / "outputs.json").rdbuf();
  // outputs.json: [{"name":..,"dtype":..,"shape":[..]}, ...]; the shapes are all this reads.
  std::vector<tapeflow::Tensor> out;
  const std::string text = json.str();
  std::size_t at = 0;
  for (int i = 0; (at = text.find("\"dtype\":\"", at)) != std::string::npos; ++i) {
    at += 9;
    const std::string dtype = text.substr(at, text.find('"', at) - at);
    const std::size_t open = text.find('[', at), close = text.find(']', open);
    std::vector<std::int64_t> dims;
    std::stringstream list(text.substr(open + 1, close - open - 1));
    for (std::string d; std::getline(list, d, ',');) dims.push_back(std::stoll(d));
    const tapeflow::DType dt = dtype == "float32" ? tapeflow::float32
                               : dtype == "float64" ? tapeflow::float64
                               : dtype == "int64"   ? tapeflow::int64
                               : dtype == "int32"   ? tapeflow::int32
                                                    : tapeflow::bool_;
    tapeflow::Tensor t = tapeflow::Tensor::empty(tapeflow::Shape(dims), dt);
    std::ifstream(dir / fmt::format("out_{}.bin", i), std::ios::binary)
        .read(static_cast<char*>(t.raw_data()), static_cast<std::streamsize>(t.nbytes()));
    out.push_back(t);
  }
  fs::remove_all(dir);
  return out;
}

}  // namespace tft::ort
