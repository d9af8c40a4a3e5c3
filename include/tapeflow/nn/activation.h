#pragma once
/// Activation modules: thin Module wrappers over the functions of ops/elementwise.h and
/// nn/functional.h, for use in Sequential. Each has no parameters, keeps the input's shape and
/// has the same gradient as its function.
#include <string>

#include <fmt/format.h>

#include "tapeflow/nn/functional.h"
#include "tapeflow/nn/module.h"

namespace tapeflow::nn {

/// max(x, 0)
class ReLU : public Module {
 public:
  Tensor forward(const Tensor& x) override { return relu(x); }
  std::string type_name() const override { return "ReLU"; }
};

/// min(max(x, 0), 6)
class ReLU6 : public Module {
 public:
  Tensor forward(const Tensor& x) override { return relu6(x); }
  std::string type_name() const override { return "ReLU6"; }
};

/// x if x > 0 else alpha * x (TensorFlow's default alpha 0.2).
class LeakyReLU : public Module {
 public:
  explicit LeakyReLU(double alpha = 0.2) : alpha_(alpha) {}
  Tensor forward(const Tensor& x) override { return leaky_relu(x, alpha_); }
  double alpha() const { return alpha_; }
  std::string type_name() const override { return "LeakyReLU"; }
  std::string extra_repr() const override { return fmt::format("alpha={}", alpha_); }

 private:
  double alpha_;
};

/// x if x > 0 else exp(x) - 1
class ELU : public Module {
 public:
  Tensor forward(const Tensor& x) override { return elu(x); }
  std::string type_name() const override { return "ELU"; }
};

/// log(1 + exp(x))
class Softplus : public Module {
 public:
  Tensor forward(const Tensor& x) override { return softplus(x); }
  std::string type_name() const override { return "Softplus"; }
};

/// x * Phi(x) (exact, or with `approximate` the tanh form): PyTorch's nn::GELU.
class GELU : public Module {
 public:
  explicit GELU(bool approximate = false) : approximate_(approximate) {}
  Tensor forward(const Tensor& x) override { return gelu(x, approximate_); }
  std::string type_name() const override { return "GELU"; }
  std::string extra_repr() const override { return approximate_ ? "approximate=tanh" : ""; }

 private:
  bool approximate_;
};

/// x * sigmoid(x): PyTorch's nn::SiLU.
class SiLU : public Module {
 public:
  Tensor forward(const Tensor& x) override { return silu(x); }
  std::string type_name() const override { return "SiLU"; }
};

/// 1 / (1 + exp(-x))
class Sigmoid : public Module {
 public:
  Tensor forward(const Tensor& x) override { return sigmoid(x); }
  std::string type_name() const override { return "Sigmoid"; }
};

class Tanh : public Module {
 public:
  Tensor forward(const Tensor& x) override { return tanh(x); }
  std::string type_name() const override { return "Tanh"; }
};

/// softmax along `axis` (default: the last).
class Softmax : public Module {
 public:
  explicit Softmax(int axis = -1) : axis_(axis) {}
  Tensor forward(const Tensor& x) override { return softmax(x, axis_); }
  int axis() const { return axis_; }
  std::string type_name() const override { return "Softmax"; }
  std::string extra_repr() const override { return fmt::format("axis={}", axis_); }

 private:
  int axis_;
};

/// log_softmax along `axis` (default: the last).
class LogSoftmax : public Module {
 public:
  explicit LogSoftmax(int axis = -1) : axis_(axis) {}
  Tensor forward(const Tensor& x) override { return log_softmax(x, axis_); }
  int axis() const { return axis_; }
  std::string type_name() const override { return "LogSoftmax"; }
  std::string extra_repr() const override { return fmt::format("axis={}", axis_); }

 private:
  int axis_;
};

}  // namespace tapeflow::nn
