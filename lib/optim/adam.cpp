#include "tapeflow/optim/adam.h"

#include <cmath>

#include "ops/kernels.h"
#include "optim/checks.h"

namespace tapeflow::optim {

namespace kd = tapeflow::detail;

void adam_update(Tensor& var, const Tensor& grad, AdamState& state, const AdamOptions& options, double lr) {
  constexpr const char* op = "adam_update";
  detail::begin_update(op, var, grad);
  detail::ensure_slot(op, "m", state.m, var, 0.0);
  detail::ensure_slot(op, "v", state.v, var, 0.0);
  state.step += 1;
  const double t = static_cast<double>(state.step);
  // The bias corrections fold into the step size (TF's ApplyAdam).
  const double lr_t = lr * std::sqrt(1.0 - std::pow(options.beta2, t)) / (1.0 - std::pow(options.beta1, t));
  apply_adam(var, grad, state.m, state.v, lr_t, options);
}

void apply_adam(Tensor& var, const Tensor& grad, Tensor& m_slot, Tensor& v_slot, double lr_t,
                const AdamOptions& options) {
  constexpr const char* op = "apply_adam";
  detail::begin_update(op, var, grad);
  detail::ensure_slot(op, "m", m_slot, var, 0.0);
  detail::ensure_slot(op, "v", v_slot, var, 0.0);
  const Tensor g = detail::decayed_grad(var, grad, options.weight_decay);
  kd::visit_floating(op, var, [&]<class T>() {
    T* w = var.data<T>();
    T* m = m_slot.data<T>();
    T* v = v_slot.data<T>();
    const T* gp = g.data<T>();
    const T one_minus_beta1 = static_cast<T>(1.0 - options.beta1);
    const T one_minus_beta2 = static_cast<T>(1.0 - options.beta2);
    const T eps = static_cast<T>(options.epsilon), step_size = static_cast<T>(lr_t);
    kd::parallel_chunks(var.numel(), [&](std::int64_t begin, std::int64_t length) {
      detail::for_each_cache_block(begin, length, [&](std::int64_t b, std::int64_t n) {
        kd::ArrayMap<T> W(w + b, n), M(m + b, n), V(v + b, n);
        kd::ConstArrayMap<T> G(gp + b, n);
        M += (G - M) * one_minus_beta1;           // m = beta1 * m + (1 - beta1) * g
        V += (G.square() - V) * one_minus_beta2;  // v = beta2 * v + (1 - beta2) * g^2
        W -= step_size * M / (V.sqrt() + eps);    // var -= lr_t * m / (sqrt(v) + epsilon)
      });
    });
  });
}

Adam::Adam(std::vector<Tensor> params, AdamOptions options)
    : Adam(std::vector<ParamGroup>{{.params = std::move(params)}}, options) {}

Adam::Adam(std::vector<ParamGroup> groups, AdamOptions options)
    : Optimizer(std::move(groups), "Adam", options.lr, options.weight_decay), options_(options) {
  detail::check_unit_interval(name(), "beta1", options_.beta1);
  detail::check_unit_interval(name(), "beta2", options_.beta2);
  detail::check_non_negative(name(), "epsilon", options_.epsilon);
}

void Adam::update(std::size_t index, Tensor& param, const Tensor& grad) {
  const AdamOptions options = group_options(index, options_);
  adam_update(param, grad, mutable_state<AdamState>(index), options, options.lr);
}

std::vector<Optimizer::StateField> Adam::state_fields(OptimizerState& state) const {
  auto& s = static_cast<AdamState&>(state);
  return {{.name = "m", .slot = &s.m}, {.name = "v", .slot = &s.v}, {.name = "step", .count = &s.step}};
}

std::unique_ptr<OptimizerState> Adam::new_state() const { return std::make_unique<AdamState>(); }

}  // namespace tapeflow::optim
