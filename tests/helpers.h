#pragma once
// Shared test helpers: message-pinning throws, closeness, and the gradient check over shapes.
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "tapeflow/graph/graph.h"
#include "tapeflow/nn/module.h"
#include "tapeflow/tapeflow.h"

namespace tft {

/// Checks that `expr` throws `Type` and that its message contains every one of the fragments.
#define TF_CHECK_THROWS_WITH(expr, Type, ...)                                                        \
  do {                                                                                              \
    bool tf_thrown_ = false;                                                                        \
    try {                                                                                           \
      (void)(expr);                                                                                 \
    } catch (const Type& e) {                                                                       \
      tf_thrown_ = true;                                                                            \
      std::string tf_msg_ = e.what();                                                               \
      for (std::string frag : std::initializer_list<std::string>{__VA_ARGS__})                      \
        BOOST_CHECK_MESSAGE(tf_msg_.find(frag) != std::string::npos,                                \
                            "message '" << tf_msg_ << "' lacks '" << frag << "'");                  \
    }                                                                                               \
    BOOST_CHECK_MESSAGE(tf_thrown_, #expr " did not throw " #Type);                                 \
  } while (0)

/// Element-wise |a - b| <= atol + rtol |b|, with a message naming the first mismatch.
inline void check_close(const tapeflow::Tensor& got, const std::vector<double>& expected, double atol = 1e-5,
                        double rtol = 1e-5) {
  std::vector<double> g = got.to_vector<double>();
  BOOST_REQUIRE_EQUAL(g.size(), expected.size());
  for (std::size_t i = 0; i < g.size(); ++i)
    BOOST_CHECK_MESSAGE(std::abs(g[i] - expected[i]) <= atol + rtol * std::abs(expected[i]),
                        "element " << i << ": got " << g[i] << ", expected " << expected[i]);
}

/// A float64 leaf requiring grad, uniform in [lo, hi) from a fixed seed.
/// The op type of a graph tensor's node ("MatMul").
inline std::string type_of(const tapeflow::Tensor& t) { return t.impl()->node->type(); }

/// Same shape, dtype and values, bit for bit (compared as doubles): a graph run against the
/// eager result of the same op.
inline void check_same(const tapeflow::Tensor& got, const tapeflow::Tensor& expected) {
  BOOST_TEST(!got.is_symbolic());
  BOOST_TEST(got.shape().str() == expected.shape().str());
  BOOST_TEST(got.dtype() == expected.dtype());
  if (got.shape() == expected.shape() && got.dtype() == expected.dtype())
    BOOST_TEST(got.to_vector<double>() == expected.to_vector<double>(), boost::test_tools::per_element());
}

inline tapeflow::Tensor rand64(const tapeflow::Shape& shape, double lo = -1.0, double hi = 1.0, unsigned seed = 7) {
  tapeflow::Generator gen(seed + static_cast<unsigned>(shape.rank() * 31 + shape.numel()));
  tapeflow::Tensor t = tapeflow::random_uniform(shape, lo, hi, tapeflow::float64, &gen);
  t.requires_grad_();
  return t;
}

/// s * sin(a * i + b) for i in [0, numel), float64: deterministic inputs that a Python reference
/// script (tests/data/*_reference.py) builds the same way.
inline tapeflow::Tensor wave(const tapeflow::Shape& shape, double a = 0.37, double b = 0.1, double s = 1.0) {
  std::vector<double> v(static_cast<std::size_t>(shape.numel()));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = s * std::sin(a * static_cast<double>(i) + b);
  return tapeflow::from_vector(v, shape);
}

/// Every parameter of `m` (float64) set in place to wave(shape, a0 + da i, db i, s), i its index in
/// named_parameters(): the weights a reference script gives its PyTorch model.
inline void fill_parameters(tapeflow::nn::Module& m, double a0, double da, double db, double s) {
  tapeflow::NoGradGuard no_grad;
  int i = 0;
  for (auto& [name, p] : m.named_parameters()) {
    tapeflow::copy_(p, wave(p.shape(), a0 + da * i, db * i, s));
    ++i;
  }
}

/// name -> values, from a reference file of tests/data with lines "name v1 v2 ...".
inline std::map<std::string, std::vector<double>> read_reference(const std::string& file) {
  std::ifstream in(std::string(TAPEFLOW_TEST_DATA_DIR) + "/" + file);
  BOOST_REQUIRE_MESSAGE(in, "cannot open tests/data/" << file);
  std::map<std::string, std::vector<double>> out;
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::string name;
    fields >> name;
    for (double v; fields >> v;) out[name].push_back(v);
  }
  return out;
}

/// The gradient of sum(f(x)) with respect to (a copy of) x.
inline tapeflow::Tensor grad_of_sum(const std::function<tapeflow::Tensor(const tapeflow::Tensor&)>& f,
                                    const tapeflow::Tensor& x_in) {
  tapeflow::Tensor x = x_in.clone();
  x.requires_grad_();
  tapeflow::reduce_sum(f(x)).backward();
  return x.grad();
}

/// A fresh directory under the system temp dir, removed with everything in it at scope exit.
struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& prefix) {
    static int counter = 0;
    path = std::filesystem::temp_directory_path() / fmt::format("tapeflow_{}_{}_{}", prefix, ::getpid(), counter++);
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return (path / name).string(); }
};

/// Which derivatives check_grad compares with finite differences.
enum class Order { first, first_and_second };

/// Runs gradcheck, then gradgradcheck (second derivatives: every differentiable op has them
/// unless its test says otherwise), and turns a mismatch into a test failure naming the shapes.
inline void check_grad(const std::function<tapeflow::Tensor(std::span<const tapeflow::Tensor>)>& fn,
                       std::vector<tapeflow::Tensor> inputs, tapeflow::GradcheckOptions opt = {},
                       Order order = Order::first_and_second) {
  std::string shapes;
  for (auto& t : inputs) shapes += t.shape().str() + " ";
  try {
    tapeflow::gradcheck(fn, inputs, opt);
  } catch (const tapeflow::Error& e) {
    BOOST_ERROR("gradcheck with inputs " << shapes << "failed: " << e.what());
  }
  if (order == Order::first) return;
  try {
    tapeflow::gradgradcheck(fn, inputs, opt);
  } catch (const tapeflow::Error& e) {
    BOOST_ERROR("gradgradcheck with inputs " << shapes << "failed: " << e.what());
  }
}

}  // namespace tft
