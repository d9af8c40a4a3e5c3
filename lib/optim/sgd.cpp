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
    : Optimizer(std::move(params), "GradientDescent", options.lr), options_(options) {
  detail::check_non_negative(name(), "weight_decay", options_.weight_decay);
}

void GradientDescent::update(std::size_t, Tensor& param, const Tensor& grad) {
  gradient_descent_update(param, grad, options_, lr());
}

}  // namespace tapeflow::optim
