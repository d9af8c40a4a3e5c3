#include "tapeflow/optim/rmsprop.h"

#include "ops/kernels.h"
#include "optim/checks.h"

namespace tapeflow::optim {

namespace kd = tapeflow::detail;

void rmsprop_update(Tensor& var, const Tensor& grad, RMSPropState& state, const RMSPropOptions& options,
                    double lr) {
  constexpr const char* op = "rmsprop_update";
  detail::begin_update(op, var, grad);
  detail::ensure_slot(op, "ms", state.ms, var, 1.0);  // TF 1.x starts the mean square at one
  detail::ensure_slot(op, "mom", state.mom, var, 0.0);
  if (options.centered) detail::ensure_slot(op, "mg", state.mg, var, 0.0);
  const Tensor g = detail::decayed_grad(var, grad, options.weight_decay);
  kd::visit_floating(op, var, [&]<class T>() {
    T* w = var.data<T>();
    T* ms = state.ms.data<T>();
    T* mom = state.mom.data<T>();
    T* mg = options.centered ? state.mg.data<T>() : nullptr;
    const T* gp = g.data<T>();
    const T one_minus_decay = static_cast<T>(1.0 - options.decay);
    const T mu = static_cast<T>(options.momentum), eps = static_cast<T>(options.epsilon),
            eta = static_cast<T>(lr);
    kd::parallel_chunks(var.numel(), [&](std::int64_t b, std::int64_t n) {
      kd::ArrayMap<T> W(w + b, n), MS(ms + b, n), MOM(mom + b, n);
      kd::ConstArrayMap<T> G(gp + b, n);
      MS += (G.square() - MS) * one_minus_decay;  // ms = decay * ms + (1 - decay) * g^2
      if (mg) {
        kd::ArrayMap<T> MG(mg + b, n);
        MG += (G - MG) * one_minus_decay;         // mg = decay * mg + (1 - decay) * g
        MOM = MOM * mu + G * eta * (MS - MG.square() + eps).rsqrt();
      } else {
        MOM = MOM * mu + G * eta / (MS + eps).sqrt();  // mom = momentum * mom + lr * g / sqrt(ms + eps)
      }
      W -= MOM;                                   // var -= mom
    });
  });
}

RMSProp::RMSProp(std::vector<Tensor> params, RMSPropOptions options)
    : RMSProp(std::vector<ParamGroup>{{.params = std::move(params)}}, options) {}

RMSProp::RMSProp(std::vector<ParamGroup> groups, RMSPropOptions options)
    : Optimizer(std::move(groups), "RMSProp", options.lr, options.weight_decay), options_(options) {
  detail::check_unit_interval(name(), "decay", options_.decay);
  detail::check_non_negative(name(), "momentum", options_.momentum);
  detail::check_non_negative(name(), "epsilon", options_.epsilon);
}

void RMSProp::update(std::size_t index, Tensor& param, const Tensor& grad) {
  const RMSPropOptions options = group_options(index, options_);
  rmsprop_update(param, grad, mutable_state<RMSPropState>(index), options, options.lr);
}

std::vector<Optimizer::StateField> RMSProp::state_fields(OptimizerState& state) const {
  auto& s = static_cast<RMSPropState&>(state);
  std::vector<StateField> fields{{.name = "ms", .slot = &s.ms}, {.name = "mom", .slot = &s.mom}};
  if (options_.centered) fields.push_back({.name = "mg", .slot = &s.mg});  // mg exists only when centered
  return fields;
}

std::unique_ptr<OptimizerState> RMSProp::new_state() const { return std::make_unique<RMSPropState>(); }

}  // namespace tapeflow::optim
