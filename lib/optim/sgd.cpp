#include "tapeflow/optim/sgd.h"

#include "optim/checks.h"
#include "tapeflow/ops/elementwise.h"

namespace tapeflow::optim {

void gradient_descent_update(Tensor& var, const Tensor& grad, const GradientDescentOptions& options, double lr) {
  detail::begin_update("gradient_descent_update", var, grad);
  const Tensor g = detail::decayed_grad(var, grad, options.weight_decay);
  axpy_(var, -lr, g);  // var -= lr * g
}

GradientDescent::GradientDescent(std::vector<Tensor> params, GradientDescentOptions options)
    : GradientDescent(std::vector<ParamGroup>{{.params = std::move(params)}}, options) {}

GradientDescent::GradientDescent(std::vector<ParamGroup> groups, GradientDescentOptions options)
    : Optimizer(std::move(groups), "GradientDescent", options.lr, options.weight_decay), options_(options) {}

void GradientDescent::update(std::size_t index, Tensor& param, const Tensor& grad) {
  const GradientDescentOptions options = group_options(index, options_);
  gradient_descent_update(param, grad, options, options.lr);
}

}  // namespace tapeflow::optim
