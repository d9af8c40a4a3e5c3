#pragma once
// Shared by the optimizer suites (test_optimizers.cpp, test_adamw.cpp, test_optimizer_state.cpp,
// test_param_groups.cpp): the value tests' problem and its stepping check, and the state-dict
// helpers.
#include <cstring>
#include <string>
#include <vector>

#include "helpers.h"
#include "tapeflow/optim.h"

namespace tft {

// Every value test starts from x0 = [1, -2, 0.5] and applies these gradients in order.
inline const std::vector<double> kX0 = {1.0, -2.0, 0.5};
inline const std::vector<std::vector<double>> kGrads = {{0.1, -0.2, 0.3}, {0.4, 0.1, -0.5}, {-0.3, 0.2, 0.1}};
/// x after each step.
using Steps = std::vector<std::vector<double>>;

/// A leaf requiring grad, of `values` in dtype `dt`.
inline tapeflow::Tensor leaf(const std::vector<double>& values, tapeflow::DType dt) {
  tapeflow::Tensor t = tapeflow::from_vector(values).to(dt);
  t.requires_grad_();
  return t;
}

/// Builds the optimizer on x0 in float64 and float32, sets each gradient, steps, and compares x
/// after each step with `expected`.
template <class Opt, class Options>
void check_steps(const Options& options, const Steps& expected) {
  for (tapeflow::DType dt : {tapeflow::float64, tapeflow::float32}) {
    BOOST_TEST_CONTEXT("dtype " << tapeflow::dtype_name(dt)) {
      const double tol = dt == tapeflow::float64 ? 1e-12 : 2e-6;
      tapeflow::Tensor x = leaf(kX0, dt);
      Opt opt({x}, options);
      for (std::size_t s = 0; s < expected.size(); ++s) {
        BOOST_TEST_CONTEXT("step " << s + 1) {
          x.set_grad(tapeflow::from_vector(kGrads[s]).to(dt));
          opt.step();
          check_close(x, expected[s], tol, tol);
        }
      }
    }
  }
}

/// Same shapes, dtypes and bytes.
inline bool bitwise_equal(const tapeflow::Tensor& a, const tapeflow::Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() && std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

inline bool bitwise_equal(const std::vector<tapeflow::Tensor>& a, const std::vector<tapeflow::Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (!bitwise_equal(a[i], b[i])) return false;
  return true;
}

/// The entries' names, in order.
inline std::vector<std::string> names_of(const tapeflow::optim::NamedTensors& dict) {
  std::vector<std::string> names;
  for (const auto& [name, t] : dict) names.push_back(name);
  return names;
}

/// Entry `name` of `dict` (a test failure when there is none).
inline const tapeflow::Tensor& entry(const tapeflow::optim::NamedTensors& dict, const std::string& name) {
  for (const auto& [n, t] : dict)
    if (n == name) return t;
  BOOST_FAIL("no entry " << name);
  static const tapeflow::Tensor none;
  return none;
}

/// `dict` with entry `name` replaced by `value` (appended when absent).
inline tapeflow::optim::NamedTensors with(tapeflow::optim::NamedTensors dict, const std::string& name,
                                          const tapeflow::Tensor& value) {
  for (auto& [n, t] : dict)
    if (n == name) {
      t = value;
      return dict;
    }
  dict.emplace_back(name, value);
  return dict;
}

}  // namespace tft
