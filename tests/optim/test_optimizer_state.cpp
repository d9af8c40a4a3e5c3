// Optimizer state dicts: after saving a model and its optimizer with io::save and loading both
// into fresh objects, training goes on bit for bit as if it had not stopped (every optimizer);
// the entries and their names; a schedule's learning rate; copies both ways; and every error of
// load_state_dict, with its message.
#include <cstring>
#include <functional>
#include <memory>

#include "optim/optim_fixture.h"
#include "tapeflow/io/checkpoint.h"
#include "tapeflow/nn.h"
#include "tapeflow/optim.h"

using namespace tapeflow;
namespace optim = tapeflow::optim;

namespace {

using tft::bitwise_equal;
using tft::entry;
using tft::names_of;
using tft::with;

using MakeOptimizer = std::function<std::unique_ptr<optim::Optimizer>(std::vector<Tensor>)>;

/// Linear(4, 8) + ReLU + Linear(8, 3), its weights drawn from `seed`.
nn::Sequential make_net(std::uint64_t seed) {
  Generator gen(seed);
  return nn::Sequential(nn::Linear(4, 8, {.generator = &gen}), nn::ReLU(), nn::Linear(8, 3, {.generator = &gen}));
}

struct Batch {
  Tensor x, y;  // [8,4], [8,3]
};

/// The same random regression batches on every call.
std::vector<Batch> make_batches(int n) {
  Generator gen(123);
  std::vector<Batch> batches;
  for (int i = 0; i < n; ++i) {
    Tensor x = random_uniform({8, 4}, -1, 1, float32, &gen);
    batches.push_back({x, random_uniform({8, 3}, -1, 1, float32, &gen)});
  }
  return batches;
}

void train_step(nn::Module& net, optim::Optimizer& opt, const Batch& batch) {
  opt.zero_grad();
  reduce_mean(square(net(batch.x) - batch.y)).backward();
  opt.step();
}

/// Trains a net for a few steps under a schedule (the learning rate changes every step), saves
/// it and its optimizer, trains 10 more steps with a constant learning rate; then fresh objects
/// (other initial weights) load both files and take the same 10 steps: the parameters must be
/// bitwise those of the uninterrupted run. A fresh optimizer loading nothing must end elsewhere
/// (so the test can fail).
void check_resumes_exactly(const MakeOptimizer& make) {
  constexpr int kBefore = 5, kAfter = 10;
  const std::vector<Batch> batches = make_batches(kBefore + kAfter);
  tft::TempDir dir("optimizer_state");
  const std::string model_file = dir.file("model.safetensors"), optimizer_file = dir.file("optimizer.safetensors");

  nn::Sequential net = make_net(1);
  std::unique_ptr<optim::Optimizer> opt = make(net.parameters());
  const double base_lr = opt->lr();
  for (int s = 0; s < kBefore; ++s) {
    opt->set_lr(optim::exponential_decay(base_lr, s, 1, 0.7));
    train_step(net, *opt, batches[s]);
  }
  io::save(model_file, net.state_dict());
  io::save(optimizer_file, opt->state_dict());
  for (int s = kBefore; s < kBefore + kAfter; ++s) train_step(net, *opt, batches[s]);

  nn::Sequential restored = make_net(2);
  std::unique_ptr<optim::Optimizer> restored_opt = make(restored.parameters());
  BOOST_TEST(!bitwise_equal(restored.parameters(), net.parameters()));
  restored.load_state_dict(io::load(model_file));
  restored_opt->load_state_dict(io::load(optimizer_file));
  BOOST_TEST(restored_opt->lr() == optim::exponential_decay(base_lr, kBefore - 1, 1, 0.7));  // the schedule's last
  for (int s = kBefore; s < kBefore + kAfter; ++s) train_step(restored, *restored_opt, batches[s]);
  BOOST_TEST(bitwise_equal(restored.parameters(), net.parameters()));

  nn::Sequential model_only = make_net(2);
  std::unique_ptr<optim::Optimizer> fresh_opt = make(model_only.parameters());
  model_only.load_state_dict(io::load(model_file));
  for (int s = kBefore; s < kBefore + kAfter; ++s) train_step(model_only, *fresh_opt, batches[s]);
  BOOST_TEST(!bitwise_equal(model_only.parameters(), net.parameters()));
}

optim::NamedTensors without(optim::NamedTensors dict, const std::string& name) {
  std::erase_if(dict, [&](const auto& e) { return e.first == name; });
  return dict;
}

/// One step on each parameter with loss sum(p^2) (all of them get a gradient).
void step_all(optim::Optimizer& opt) {
  opt.zero_grad();
  for (const Tensor& p : opt.parameters()) reduce_sum(square(p)).backward();
  opt.step();
}

Tensor param(const Shape& shape, DType dtype = float32, double value = 0.5) {
  return full(shape, value, dtype).requires_grad_();
}

/// An optimizer with state that does not describe it (no state_fields / new_state).
struct CountingState : optim::OptimizerState {
  int updates = 0;
};
class Counting : public optim::Optimizer {
 public:
  explicit Counting(std::vector<Tensor> params) : Optimizer(std::move(params), "Counting", 0.1) {}

 protected:
  void update(std::size_t index, Tensor&, const Tensor&) override { ++mutable_state<CountingState>(index).updates; }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(optimizer_state)

// ------------------------------------------------------------------------ resuming bit for bit

BOOST_AUTO_TEST_CASE(gradient_descent_resumes_bit_for_bit) {
  check_resumes_exactly([](std::vector<Tensor> p) {
    return std::make_unique<optim::GradientDescent>(p, optim::GradientDescentOptions{.lr = 0.1, .weight_decay = 0.01});
  });
}

BOOST_AUTO_TEST_CASE(momentum_resumes_bit_for_bit) {
  check_resumes_exactly([](std::vector<Tensor> p) {
    return std::make_unique<optim::Momentum>(p, optim::MomentumOptions{.lr = 0.05, .momentum = 0.9});
  });
  check_resumes_exactly([](std::vector<Tensor> p) {
    return std::make_unique<optim::Momentum>(p, optim::MomentumOptions{.lr = 0.05, .nesterov = true});
  });
}

BOOST_AUTO_TEST_CASE(adam_resumes_bit_for_bit) {
  check_resumes_exactly([](std::vector<Tensor> p) {
    return std::make_unique<optim::Adam>(p, optim::AdamOptions{.lr = 0.01, .weight_decay = 0.001});
  });
}

BOOST_AUTO_TEST_CASE(rmsprop_resumes_bit_for_bit) {
  check_resumes_exactly(
      [](std::vector<Tensor> p) { return std::make_unique<optim::RMSProp>(p, optim::RMSPropOptions{.lr = 0.01}); });
  check_resumes_exactly([](std::vector<Tensor> p) {
    return std::make_unique<optim::RMSProp>(p, optim::RMSPropOptions{.lr = 0.01, .momentum = 0.5, .centered = true});
  });
}

BOOST_AUTO_TEST_CASE(adagrad_resumes_bit_for_bit) {
  check_resumes_exactly(
      [](std::vector<Tensor> p) { return std::make_unique<optim::Adagrad>(p, optim::AdagradOptions{.lr = 0.1}); });
}

// ------------------------------------------------------------------------------------ entries

BOOST_AUTO_TEST_CASE(entries_are_named_by_parameter_index_and_slot) {
  Tensor a = param({2, 3}), unused = param({4}), c = param({3}, float64);
  optim::Adam adam({a, unused, c}, {.lr = 0.1});
  BOOST_TEST(names_of(adam.state_dict()) == (std::vector<std::string>{"optimizer", "num_parameters", "groups", "lr"}),
             boost::test_tools::per_element());
  for (int s = 0; s < 2; ++s) {
    adam.zero_grad();
    reduce_sum(square(a)).backward();
    reduce_sum(square(c)).backward();  // `unused` gets no gradient, so no state
    adam.step();
  }
  const optim::NamedTensors dict = adam.state_dict();
  BOOST_TEST(names_of(dict) == (std::vector<std::string>{"optimizer", "num_parameters", "groups", "lr", "state/0/m",
                                                          "state/0/v", "state/0/step", "state/2/m", "state/2/v",
                                                          "state/2/step"}),
             boost::test_tools::per_element());
  const Tensor& type = entry(dict, "optimizer");
  BOOST_TEST(type.dtype() == uint8);
  BOOST_TEST(type.shape().str() == "[4]");
  const std::vector<std::uint8_t> bytes = type.to_vector<std::uint8_t>();
  BOOST_TEST(std::string(bytes.begin(), bytes.end()) == "Adam");
  BOOST_TEST(entry(dict, "num_parameters").dtype() == int64);
  BOOST_TEST(entry(dict, "num_parameters").shape().str() == "[]");
  BOOST_TEST(entry(dict, "num_parameters").item<std::int64_t>() == 3);
  BOOST_TEST(entry(dict, "groups").dtype() == int64);  // one group: every parameter in group 0
  BOOST_TEST(entry(dict, "groups").to_vector<std::int64_t>() == (std::vector<std::int64_t>{0, 0, 0}),
             boost::test_tools::per_element());
  BOOST_TEST(entry(dict, "lr").dtype() == float64);
  BOOST_TEST(entry(dict, "lr").shape().str() == "[1]");  // one learning rate per group
  BOOST_TEST(entry(dict, "lr").item<double>() == 0.1);
  BOOST_TEST(entry(dict, "state/0/step").dtype() == int64);
  BOOST_TEST(entry(dict, "state/0/step").shape().str() == "[]");
  BOOST_TEST(entry(dict, "state/2/step").item<std::int64_t>() == 2);
  BOOST_TEST(bitwise_equal(entry(dict, "state/0/m"), adam.state<optim::AdamState>(0)->m));
  BOOST_TEST(bitwise_equal(entry(dict, "state/2/v"), adam.state<optim::AdamState>(2)->v));
  BOOST_TEST(entry(dict, "state/2/m").dtype() == float64);  // the parameter's dtype

  auto slots_of = [](optim::Optimizer& opt) {
    step_all(opt);
    std::vector<std::string> names = names_of(opt.state_dict());
    return std::vector<std::string>(names.begin() + 4, names.end());
  };
  using Names = std::vector<std::string>;
  optim::GradientDescent sgd({param({2})});
  BOOST_TEST(slots_of(sgd) == Names{}, boost::test_tools::per_element());
  optim::Momentum momentum({param({2})});
  BOOST_TEST(slots_of(momentum) == Names{"state/0/accum"}, boost::test_tools::per_element());
  optim::Adagrad adagrad({param({2})});
  BOOST_TEST(slots_of(adagrad) == Names{"state/0/accum"}, boost::test_tools::per_element());
  optim::RMSProp rmsprop({param({2})});
  BOOST_TEST(slots_of(rmsprop) == (Names{"state/0/ms", "state/0/mom"}), boost::test_tools::per_element());
  optim::RMSProp centered({param({2})}, {.centered = true});
  BOOST_TEST(slots_of(centered) == (Names{"state/0/ms", "state/0/mom", "state/0/mg"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(state_dicts_are_copies_both_ways) {
  // Saving: a dict taken earlier does not follow the training.
  optim::Momentum opt({param({3})}, {.lr = 0.1});
  step_all(opt);
  const optim::NamedTensors dict = opt.state_dict();
  const Tensor saved = entry(dict, "state/0/accum").clone();
  BOOST_TEST(entry(dict, "state/0/accum").raw_data() != opt.state<optim::MomentumState>(0)->accum.raw_data());
  step_all(opt);
  BOOST_TEST(bitwise_equal(entry(dict, "state/0/accum"), saved));
  BOOST_TEST(!bitwise_equal(opt.state<optim::MomentumState>(0)->accum, saved));

  // Loading: the optimizer does not share the dict's memory.
  optim::Momentum other({param({3})}, {.lr = 0.1});
  other.load_state_dict(dict);
  const Tensor& accum = other.state<optim::MomentumState>(0)->accum;
  BOOST_TEST(bitwise_equal(accum, saved));
  BOOST_TEST(accum.raw_data() != entry(dict, "state/0/accum").raw_data());
  Tensor in_dict = entry(dict, "state/0/accum");
  in_dict.data<float>()[0] = 7.0f;
  BOOST_TEST(bitwise_equal(other.state<optim::MomentumState>(0)->accum, saved));
}

BOOST_AUTO_TEST_CASE(loading_replaces_the_whole_state) {
  // A parameter without entries ends without state, as before its first update.
  Tensor a = param({2}), b = param({2});
  optim::Adam saver({a, b});
  optim::Adam loader({param({2}), param({2})});
  saver.zero_grad();
  reduce_sum(square(a)).backward();
  saver.step();
  step_all(loader);
  BOOST_TEST(loader.state<optim::AdamState>(1) != nullptr);
  loader.load_state_dict(saver.state_dict());
  BOOST_TEST(loader.state<optim::AdamState>(0)->step == 1);
  BOOST_TEST(loader.state<optim::AdamState>(1) == nullptr);
  BOOST_TEST(names_of(loader.state_dict()) == names_of(saver.state_dict()), boost::test_tools::per_element());
  // GradientDescent's dict is the four header entries only.
  optim::GradientDescent sgd({param({2})}, {.lr = 0.3});
  optim::GradientDescent sgd2({param({2})});
  sgd2.load_state_dict(sgd.state_dict());
  BOOST_TEST(sgd2.lr() == 0.3);
}

BOOST_AUTO_TEST_CASE(a_schedule_changed_learning_rate_round_trips) {
  tft::TempDir dir("optimizer_lr");
  optim::RMSProp opt({param({2})}, {.lr = 0.01});
  const double decayed = optim::exponential_decay(0.1, 7, 3, 0.96);  // not a short decimal
  opt.set_lr(decayed);
  io::save(dir.file("opt.safetensors"), opt.state_dict());
  optim::RMSProp fresh({param({2})}, {.lr = 0.01});
  fresh.load_state_dict(io::load(dir.file("opt.safetensors")));
  BOOST_TEST(fresh.lr() == decayed);  // exactly: float64 in the file
  BOOST_TEST(fresh.lr() != 0.01);

  opt.set_lr(optim::piecewise_constant(150, {100, 200}, {0.1, 0.05, 0.01}));
  fresh.load_state_dict(opt.state_dict());
  BOOST_TEST(fresh.lr() == 0.05);
}

// ------------------------------------------------------------------------------------ errors

BOOST_AUTO_TEST_CASE(wrong_optimizer_type) {
  // Momentum and Adagrad both keep "accum": only the "optimizer" entry tells them apart.
  optim::Momentum momentum({param({2})});
  step_all(momentum);
  optim::Adagrad adagrad({param({2})});
  TF_CHECK_THROWS_WITH(adagrad.load_state_dict(momentum.state_dict()), ValueError,
                       "Adagrad.load_state_dict: the state dict is of optimizer type Momentum (entry 'optimizer'), "
                       "this optimizer is Adagrad; load it into an optimizer of type Momentum built with the same "
                       "options over the same parameters");
  TF_CHECK_THROWS_WITH(adagrad.load_state_dict(with(momentum.state_dict(), "optimizer", scalar(1.0))), DTypeError,
                       "Adagrad.load_state_dict: entry 'optimizer' is float32 [], expected uint8 [n] (the "
                       "optimizer's name in ASCII");
  // A model's state dict is not an optimizer's.
  nn::Sequential net = make_net(1);
  optim::Adam adam(net.parameters());
  TF_CHECK_THROWS_WITH(adam.load_state_dict(net.state_dict()), ValueError,
                       "Adam.load_state_dict: missing entries [optimizer, num_parameters, groups, lr], unexpected "
                       "entries [0/weight, 0/bias, 2/weight, 2/bias]; pass the state_dict() of an optimizer of type "
                       "Adam built with the same options over the same parameters");
}

BOOST_AUTO_TEST_CASE(parameter_count_mismatch) {
  optim::Adam three({param({2}), param({3}), param({4})});
  step_all(three);
  optim::Adam two({param({2}), param({3})});
  TF_CHECK_THROWS_WITH(two.load_state_dict(three.state_dict()), ValueError,
                       "Adam.load_state_dict: the state dict is of 3 parameters (entry 'num_parameters'), this "
                       "optimizer has 2; build it over the same parameters, in the same order");
  TF_CHECK_THROWS_WITH(two.load_state_dict(with(three.state_dict(), "num_parameters", scalar(2.0))), DTypeError,
                       "Adam.load_state_dict: entry 'num_parameters' is float32 [], expected int64 []");
}

BOOST_AUTO_TEST_CASE(missing_and_unexpected_entries) {
  optim::Adam adam({param({2}), param({3})});
  step_all(adam);
  const optim::NamedTensors dict = adam.state_dict();
  optim::Adam fresh({param({2}), param({3})});
  TF_CHECK_THROWS_WITH(fresh.load_state_dict(without(dict, "state/1/v")), ValueError,
                       "Adam.load_state_dict: missing entries [state/1/v], unexpected entries []",
                       "pass the state_dict() of an optimizer of type Adam built with the same options over the same "
                       "parameters");
  TF_CHECK_THROWS_WITH(fresh.load_state_dict(without(dict, "lr")), ValueError,
                       "missing entries [lr], unexpected entries []");
  TF_CHECK_THROWS_WITH(fresh.load_state_dict(with(dict, "state/0/extra", zeros({2}))), ValueError,
                       "Adam.load_state_dict: missing entries [], unexpected entries [state/0/extra]");
  TF_CHECK_THROWS_WITH(fresh.load_state_dict(with(dict, "state/2/m", zeros({2}))), ValueError,
                       "missing entries [], unexpected entries [state/2/m]");  // only parameters 0 and 1
  // Options that change the state: RMSProp keeps "mg" only when centered.
  optim::RMSProp centered({param({2})}, {.centered = true});
  step_all(centered);
  optim::RMSProp plain({param({2})});
  TF_CHECK_THROWS_WITH(plain.load_state_dict(centered.state_dict()), ValueError,
                       "RMSProp.load_state_dict: missing entries [], unexpected entries [state/0/mg]");
  step_all(plain);
  optim::RMSProp centered2({param({2})}, {.centered = true});
  TF_CHECK_THROWS_WITH(centered2.load_state_dict(plain.state_dict()), ValueError,
                       "RMSProp.load_state_dict: missing entries [state/0/mg], unexpected entries []");
  // GradientDescent has no state: any "state/..." is unexpected.
  optim::GradientDescent sgd({param({2})});
  TF_CHECK_THROWS_WITH(sgd.load_state_dict(with(sgd.state_dict(), "state/0/accum", zeros({2}))), ValueError,
                       "GradientDescent.load_state_dict: missing entries [], unexpected entries [state/0/accum]");
}

BOOST_AUTO_TEST_CASE(shape_and_dtype_mismatch) {
  optim::Adam adam({param({2, 3}), param({3})});
  step_all(adam);
  const optim::NamedTensors dict = adam.state_dict();
  optim::Adam transposed({param({3, 2}), param({3})});
  TF_CHECK_THROWS_WITH(transposed.load_state_dict(dict), ShapeError,
                       "Adam.load_state_dict: entry 'state/0/m' has shape [2,3], expected [3,2] like parameter 0 "
                       "(float32 [3,2]); the state dict is of other parameters: build the optimizer over the same "
                       "parameters, in the same order");
  optim::Adam doubles({param({2, 3}, float64), param({3}, float64)});
  TF_CHECK_THROWS_WITH(doubles.load_state_dict(dict), DTypeError,
                       "Adam.load_state_dict: entry 'state/0/m' is float32 [2,3], expected float64 [2,3] like "
                       "parameter 0; the state dict is of other parameters");
  optim::Adam fresh({param({2, 3}), param({3})});
  TF_CHECK_THROWS_WITH(fresh.load_state_dict(with(dict, "state/1/step", scalar(1.0))), DTypeError,
                       "Adam.load_state_dict: entry 'state/1/step' is float32 [], expected int64 [] (as state_dict() "
                       "writes it)");
  TF_CHECK_THROWS_WITH(fresh.load_state_dict(with(dict, "state/1/step", from_vector(std::vector<std::int64_t>{1}))),
                       ShapeError,
                       "Adam.load_state_dict: entry 'state/1/step' is int64 [1], expected a scalar, int64 []");
  TF_CHECK_THROWS_WITH(fresh.load_state_dict(with(dict, "lr", scalar(0.001))), DTypeError,
                       "Adam.load_state_dict: entry 'lr' is float32 [], expected float64 [1] (as state_dict() writes "
                       "it)");
  TF_CHECK_THROWS_WITH(fresh.load_state_dict(with(dict, "lr", scalar(0.001, float64))), ShapeError,
                       "Adam.load_state_dict: entry 'lr' is float64 [], expected one per parameter group, float64 [1] "
                       "(as state_dict() writes it)");
}

BOOST_AUTO_TEST_CASE(bad_values) {
  optim::Adam adam({param({2})});
  step_all(adam);
  const optim::NamedTensors dict = adam.state_dict();
  optim::Adam fresh({param({2})});
  TF_CHECK_THROWS_WITH(fresh.load_state_dict(with(dict, "lr", from_vector(std::vector<double>{-1.0}))), ValueError,
                       "Adam.load_state_dict: entry 'lr': invalid learning rate: -1 (must be a finite number >= 0)");
  TF_CHECK_THROWS_WITH(fresh.load_state_dict(with(dict, "state/0/step", scalar(-1.0, int64))), ValueError,
                       "Adam.load_state_dict: entry 'state/0/step' is -1; a count is >= 0");
  TF_CHECK_THROWS_WITH(fresh.load_state_dict(with(dict, "state/0/m", Tensor())), ValueError,
                       "Adam.load_state_dict: entry 'state/0/m' is an undefined tensor");
  optim::NamedTensors twice = dict;
  twice.emplace_back("lr", scalar(0.5, float64));
  TF_CHECK_THROWS_WITH(fresh.load_state_dict(twice), ValueError,
                       "Adam.load_state_dict: entry 'lr' appears twice; a state dict names each entry once");
}

BOOST_AUTO_TEST_CASE(a_failed_load_changes_nothing) {
  // Parameter 0's entries are good, parameter 1's are not: nothing is loaded.
  optim::Adam adam({param({2}), param({3})}, {.lr = 0.2});
  step_all(adam);
  step_all(adam);
  optim::Adam target({param({2}), param({3})}, {.lr = 0.3});
  step_all(target);
  const optim::NamedTensors before = target.state_dict();
  TF_CHECK_THROWS_WITH(target.load_state_dict(with(adam.state_dict(), "state/1/v", zeros({4}))), ShapeError,
                       "entry 'state/1/v' has shape [4], expected [3]");
  const optim::NamedTensors after = target.state_dict();
  BOOST_TEST(names_of(after) == names_of(before), boost::test_tools::per_element());
  for (std::size_t i = 0; i < before.size(); ++i)
    BOOST_TEST(bitwise_equal(after[i].second, before[i].second), "entry " << before[i].first);
  BOOST_TEST(target.lr() == 0.3);
  BOOST_TEST(target.state<optim::AdamState>(0)->step == 1);
}

BOOST_AUTO_TEST_CASE(an_optimizer_that_does_not_describe_its_state) {
  Counting counting({param({2})});
  counting.load_state_dict(counting.state_dict());  // no state yet: the four header entries
  step_all(counting);
  BOOST_TEST(counting.state<CountingState>(0)->updates == 1);
  TF_CHECK_THROWS_WITH(counting.state_dict(), ValueError,
                       "Counting.state_dict: parameter 0 (float32 [2]) has a state, but Counting does not say what "
                       "it holds; override state_fields() and new_state()");
}

BOOST_AUTO_TEST_SUITE_END()
