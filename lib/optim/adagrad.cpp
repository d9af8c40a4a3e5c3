#include "tapeflow/optim/adagrad.h"

#include "ops/kernels.h"
#include "optim/checks.h"

namespace tapeflow::optim {

namespace kd = tapeflow::detail;

void adagrad_update(Tensor& var, const Tensor& grad, AdagradState& state, const AdagradOptions& options,
                    double lr) {
  constexpr const char* op = "adagrad_update";
  detail::begin_update(op, var, grad);
  detail::ensure_slot(op, "accum", state.accum, var, options.initial_accumulator_value);
  const Tensor g = detail::decayed_grad(var, grad, options.weight_decay);
  kd::visit_floating(op, var, [&]<class T>() {
    T* w = var.data<T>();
    T* a = state.accum.data<T>();
    const T* gp = g.data<T>();
    const T eta = static_cast<T>(lr);
    kd::parallel_chunks(var.numel(), [&](std::int64_t b, std::int64_t n) {
      kd::ArrayMap<T> W(w + b, n), A(a + b, n);
      kd::ConstArrayMap<T> G(gp + b, n);
      A += G.square();               // accum += g^2
      W -= G * eta * A.rsqrt();      // var -= lr * g / sqrt(accum)
    });
  });
}

Adagrad::Adagrad(std::vector<Tensor> params, AdagradOptions options)
    : Adagrad(std::vector<ParamGroup>{{.params = std::move(params)}}, options) {}

Adagrad::Adagrad(std::vector<ParamGroup> groups, AdagradOptions options)
    : Optimizer(std::move(groups), "Adagrad", options.lr, options.weight_decay), options_(options) {
  detail::check_positive(name(), "initial_accumulator_value", options_.initial_accumulator_value);
}

void Adagrad::update(std::size_t index, Tensor& param, const Tensor& grad) {
  const AdagradOptions options = group_options(index, options_);
  adagrad_update(param, grad, mutable_state<AdagradState>(index), options, options.lr);
}

std::vector<Optimizer::StateField> Adagrad::state_fields(OptimizerState& state) const {
  return {{.name = "accum", .slot = &static_cast<AdagradState&>(state).accum}};
}

std::unique_ptr<OptimizerState> Adagrad::new_state() const { return std::make_unique<AdagradState>(); }

}  // namespace tapeflow::optim
