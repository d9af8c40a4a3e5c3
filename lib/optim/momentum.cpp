#include "tapeflow/optim/momentum.h"

#include "ops/kernels.h"
#include "optim/checks.h"

namespace tapeflow::optim {

namespace kd = tapeflow::detail;

void momentum_update(Tensor& var, const Tensor& grad, MomentumState& state, const MomentumOptions& options,
                     double lr) {
  constexpr const char* op = "momentum_update";
  detail::begin_update(op, var, grad);
  detail::ensure_slot(op, "accum", state.accum, var, 0.0);
  const Tensor g = detail::decayed_grad(var, grad, options.weight_decay);
  kd::visit_floating(op, var, [&]<class T>() {
    T* w = var.data<T>();
    T* a = state.accum.data<T>();
    const T* gp = g.data<T>();
    const T mu = static_cast<T>(options.momentum), eta = static_cast<T>(lr);
    kd::parallel_chunks(var.numel(), [&](std::int64_t b, std::int64_t n) {
      kd::ArrayMap<T> W(w + b, n), A(a + b, n);
      kd::ConstArrayMap<T> G(gp + b, n);
      A = A * mu + G;                          // accum = momentum * accum + g
      if (options.nesterov)
        W -= G * eta + A * mu * eta;           // var -= lr * (g + momentum * accum)
      else
        W -= A * eta;                          // var -= lr * accum
    });
  });
}

Momentum::Momentum(std::vector<Tensor> params, MomentumOptions options)
    : Momentum(std::vector<ParamGroup>{{.params = std::move(params)}}, options) {}

Momentum::Momentum(std::vector<ParamGroup> groups, MomentumOptions options)
    : Optimizer(std::move(groups), "Momentum", options.lr, options.weight_decay), options_(options) {
  detail::check_non_negative(name(), "momentum", options_.momentum);
}

void Momentum::update(std::size_t index, Tensor& param, const Tensor& grad) {
  const MomentumOptions options = group_options(index, options_);
  momentum_update(param, grad, mutable_state<MomentumState>(index), options, options.lr);
}

std::vector<Optimizer::StateField> Momentum::state_fields(OptimizerState& state) const {
  return {{.name = "accum", .slot = &static_cast<MomentumState&>(state).accum}};
}

std::unique_ptr<OptimizerState> Momentum::new_state() const { return std::make_unique<MomentumState>(); }

}  // namespace tapeflow::optim
