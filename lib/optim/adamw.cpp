#include "tapeflow/optim/adamw.h"

#include <cmath>

#include <fmt/format.h>

#include "ops/kernels.h"
#include "optim/checks.h"
#include "tapeflow/error.h"

namespace tapeflow::optim {

namespace kd = tapeflow::detail;

void adamw_update(Tensor& var, const Tensor& grad, AdamWState& state, const AdamWOptions& options, double lr) {
  constexpr const char* op = "adamw_update";
  detail::begin_update(op, var, grad);
  detail::ensure_slot(op, "m", state.m, var, 0.0);
  detail::ensure_slot(op, "v", state.v, var, 0.0);
  state.step += 1;
  const double t = static_cast<double>(state.step);
  apply_adamw(var, grad, state.m, state.v, lr, 1.0 - std::pow(options.beta1, t), 1.0 - std::pow(options.beta2, t),
              options);
}

void apply_adamw(Tensor& var, const Tensor& grad, Tensor& m_slot, Tensor& v_slot, double lr, double bias_correction1,
                 double bias_correction2, const AdamWOptions& options) {
  constexpr const char* op = "apply_adamw";
  for (const auto& [what, value] : {std::pair{"bias_correction1", bias_correction1},
                                    std::pair{"bias_correction2", bias_correction2}})
    if (!(value > 0.0 && value <= 1.0))
      throw ValueError(fmt::format("{}: invalid {}: {} (must be in (0, 1]: 1 - beta^t for the update count t >= 1)",
                                   op, what, value));
  detail::begin_update(op, var, grad);
  detail::ensure_slot(op, "m", m_slot, var, 0.0);
  detail::ensure_slot(op, "v", v_slot, var, 0.0);
  kd::visit_floating(op, var, [&]<class T>() {
    T* w = var.data<T>();
    T* m = m_slot.data<T>();
    T* v = v_slot.data<T>();
    const T* gp = grad.data<T>();
    const bool decays = options.weight_decay != 0.0;
    const T decay = static_cast<T>(1.0 - lr * options.weight_decay);
    const T beta1 = static_cast<T>(options.beta1), one_minus_beta1 = static_cast<T>(1.0 - options.beta1);
    const T beta2 = static_cast<T>(options.beta2), one_minus_beta2 = static_cast<T>(1.0 - options.beta2);
    const T eps = static_cast<T>(options.epsilon);
    const T step_size = static_cast<T>(lr / bias_correction1);
    const T bias_correction2_sqrt = static_cast<T>(std::sqrt(bias_correction2));
    kd::parallel_chunks(var.numel(), [&](std::int64_t begin, std::int64_t length) {
      detail::for_each_cache_block(begin, length, [&](std::int64_t b, std::int64_t n) {
        kd::ArrayMap<T> W(w + b, n), M(m + b, n), V(v + b, n);
        kd::ConstArrayMap<T> G(gp + b, n);
        // In PyTorch's order of operations (torch.optim.AdamW's single-tensor path, torch 1.13).
        if (decays) W *= decay;                          // var *= 1 - lr * weight_decay
        M = M * beta1 + one_minus_beta1 * G;             // m = beta1 * m + (1 - beta1) * g
        V = V * beta2 + one_minus_beta2 * G.square();    // v = beta2 * v + (1 - beta2) * g^2
        W -= step_size * (M / (V.sqrt() / bias_correction2_sqrt + eps));
        // var -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + epsilon)
      });
    });
  });
}

AdamW::AdamW(std::vector<Tensor> params, AdamWOptions options)
    : AdamW(std::vector<ParamGroup>{{.params = std::move(params)}}, options) {}

AdamW::AdamW(std::vector<ParamGroup> groups, AdamWOptions options)
    : Optimizer(std::move(groups), "AdamW", options.lr, options.weight_decay), options_(options) {
  detail::check_unit_interval(name(), "beta1", options_.beta1);
  detail::check_unit_interval(name(), "beta2", options_.beta2);
  detail::check_non_negative(name(), "epsilon", options_.epsilon);
}

void AdamW::update(std::size_t index, Tensor& param, const Tensor& grad) {
  const AdamWOptions options = group_options(index, options_);
  adamw_update(param, grad, mutable_state<AdamWState>(index), options, options.lr);
}

std::vector<Optimizer::StateField> AdamW::state_fields(OptimizerState& state) const {
  auto& s = static_cast<AdamWState&>(state);
  return {{.name = "m", .slot = &s.m}, {.name = "v", .slot = &s.v}, {.name = "step", .count = &s.step}};
}

std::unique_ptr<OptimizerState> AdamW::new_state() const { return std::make_unique<AdamWState>(); }

}  // namespace tapeflow::optim
