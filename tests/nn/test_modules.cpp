#include "helpers.h"

#include <type_traits>

#include "tapeflow/nn.h"

using namespace tapeflow;

namespace {

std::vector<std::string> names_of(const nn::NamedTensors& named) {
  std::vector<std::string> out;
  for (const auto& [name, t] : named) out.push_back(name);
  return out;
}

// A user-defined module: a child, an own parameter, a buffer, another child.
struct Net : nn::Module {
  Net()
      : fc1(register_module("fc1", nn::Linear(4, 3))),
        temperature(register_parameter("temperature", ones({}))),
        fc2(register_module("fc2", std::make_shared<nn::Linear>(3, 2, nn::LinearOptions{.bias = false}))) {
    register_buffer("steps", zeros({}, int64));
  }
  Tensor forward(const Tensor& x) override { return (*fc2)(relu((*fc1)(x))) / temperature; }
  std::shared_ptr<nn::Linear> fc1;
  Tensor temperature;
  std::shared_ptr<nn::Linear> fc2;
};

// Reports the training flag it sees, to check that train()/eval() reach it.
struct Probe : nn::Module {
  Tensor forward(const Tensor& x) override { return is_training() ? x * 2.0 : x; }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(modules)

BOOST_AUTO_TEST_CASE(modules_are_move_only) {
  static_assert(!std::is_copy_constructible_v<nn::Linear>);
  static_assert(!std::is_copy_constructible_v<nn::Sequential>);
  static_assert(std::is_move_constructible_v<nn::Linear>);
  nn::Linear a(2, 3);
  Tensor w = a.weight();
  nn::Linear b(std::move(a));
  BOOST_TEST(b.weight().is_same(w));
  BOOST_TEST(b.parameters().at(0).is_same(w));
}

BOOST_AUTO_TEST_CASE(sequential_names_children_by_index) {
  nn::Sequential net(nn::Linear(4, 3), nn::ReLU(), nn::Linear(3, 2));
  BOOST_TEST(net.size() == 3u);
  std::vector<std::string> expected{"0/weight", "0/bias", "2/weight", "2/bias"};
  BOOST_TEST(names_of(net.named_parameters()) == expected, boost::test_tools::per_element());
  BOOST_TEST(net.parameters().size() == 4u);
  BOOST_TEST(net.at<nn::Linear>(0).weight().shape() == Shape({4, 3}));
  BOOST_TEST(net.at<nn::Linear>(2).bias().shape() == Shape({2}));
  // parameters() hands out the module's own tensors (shared handles), trainable.
  BOOST_TEST(net.parameters()[2].is_same(net.at<nn::Linear>(2).weight()));
  for (const Tensor& p : net.parameters()) BOOST_TEST(p.requires_grad());
}

BOOST_AUTO_TEST_CASE(nested_names_and_registration_order) {
  nn::Sequential inner(nn::Linear(2, 3), nn::Tanh());
  nn::Sequential net;
  net.push_back(std::move(inner));
  net.push_back(nn::Sigmoid());
  net.push_back(nn::Linear(3, 1, {.bias = false}));
  std::vector<std::string> expected{"0/0/weight", "0/0/bias", "2/weight"};
  BOOST_TEST(names_of(net.named_parameters()) == expected, boost::test_tools::per_element());
  // Without recursion: a Sequential has no parameters of its own.
  BOOST_TEST(net.named_parameters(false).empty());

  // A module's own entries come first, then its children's, in registration order.
  Net m;
  std::vector<std::string> net_expected{"temperature", "fc1/weight", "fc1/bias", "fc2/weight"};
  BOOST_TEST(names_of(m.named_parameters()) == net_expected, boost::test_tools::per_element());
  std::vector<std::string> own{"temperature"};
  BOOST_TEST(names_of(m.named_parameters(false)) == own, boost::test_tools::per_element());

  nn::Sequential outer(std::make_shared<Net>(), nn::ReLU());
  std::vector<std::string> outer_expected{"0/temperature", "0/fc1/weight", "0/fc1/bias", "0/fc2/weight"};
  BOOST_TEST(names_of(outer.named_parameters()) == outer_expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(buffers_are_separate_from_parameters) {
  nn::Sequential net(std::make_shared<Net>());
  auto buffers = net.named_buffers();
  BOOST_REQUIRE_EQUAL(buffers.size(), 1u);
  BOOST_TEST(buffers[0].first == "0/steps");
  BOOST_TEST(buffers[0].second.dtype() == int64);
  BOOST_TEST(!buffers[0].second.requires_grad());
  BOOST_TEST(net.buffers().size() == 1u);
  for (const auto& [name, t] : net.named_parameters()) BOOST_TEST(name != "0/steps");
  BOOST_TEST(net.named_buffers(false).empty());
}

BOOST_AUTO_TEST_CASE(tied_parameters_are_listed_once) {
  struct Tied : nn::Module {
    Tied() {
      Tensor w = ones({2, 2});
      register_parameter("a", w);
      register_parameter("b", w);
    }
    Tensor forward(const Tensor& x) override { return x; }
  } tied;
  std::vector<std::string> expected{"a"};
  BOOST_TEST(names_of(tied.named_parameters()) == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(children) {
  Net m;
  auto kids = m.named_children();
  BOOST_REQUIRE_EQUAL(kids.size(), 2u);
  BOOST_TEST(kids[0].first == "fc1");
  BOOST_TEST(kids[1].first == "fc2");
  BOOST_TEST(kids[0].second.get() == m.fc1.get());
  BOOST_TEST(m.children().size() == 2u);
  BOOST_TEST(m.children()[1].get() == m.fc2.get());
  BOOST_TEST(nn::ReLU().children().empty());
}

BOOST_AUTO_TEST_CASE(train_and_eval_reach_every_descendant) {
  auto probe = std::make_shared<Probe>();
  nn::Sequential inner(probe);
  nn::Sequential net;
  net.push_back(std::move(inner));
  net.push_back(nn::Linear(1, 1));
  BOOST_TEST(net.is_training());
  BOOST_TEST(probe->is_training());
  net.eval();
  BOOST_TEST(!net.is_training());
  BOOST_TEST(!net[0].is_training());
  BOOST_TEST(!net[1].is_training());
  BOOST_TEST(!probe->is_training());
  tft::check_close((*probe)(tensor({3.0})), {3.0});
  net.train();
  BOOST_TEST(probe->is_training());
  BOOST_TEST(net[1].is_training());
  tft::check_close((*probe)(tensor({3.0})), {6.0});
  net.train(false);
  BOOST_TEST(!probe->is_training());
}

BOOST_AUTO_TEST_CASE(registration_errors) {
  struct Bad : nn::Module {
    Tensor forward(const Tensor& x) override { return x; }
  } m;
  m.register_parameter("w", zeros({2}));
  TF_CHECK_THROWS_WITH(m.register_parameter("", zeros({2})), ValueError, "Bad()", "must not be empty");
  TF_CHECK_THROWS_WITH(m.register_parameter("a/b", zeros({2})), ValueError, "'a/b'", "must not contain '/'");
  TF_CHECK_THROWS_WITH(m.register_parameter("w", zeros({2})), ValueError, "parameter 'w'", "already registered");
  TF_CHECK_THROWS_WITH(m.register_buffer("w", zeros({2})), ValueError, "buffer 'w'", "a parameter of that name");
  TF_CHECK_THROWS_WITH(m.register_module("w", nn::ReLU()), ValueError, "submodule 'w'", "already registered");
  TF_CHECK_THROWS_WITH(m.register_parameter("u", Tensor()), ValueError, "'u'", "undefined");
  TF_CHECK_THROWS_WITH(m.register_parameter("i", zeros({3}, int32)), DTypeError, "'i'", "int32 [3]", "buffer");
  Tensor x = ones({2}, float64);
  x.requires_grad_();
  TF_CHECK_THROWS_WITH(m.register_parameter("c", x * 2.0), ValueError, "'c'", "computed", "detach()");
  TF_CHECK_THROWS_WITH(m.register_buffer("b", x), ValueError, "'b'", "requires grad");
  TF_CHECK_THROWS_WITH(m.register_module("n", std::shared_ptr<nn::ReLU>()), ValueError, "'n'", "null");
  // A frozen parameter and an int buffer are fine.
  m.register_parameter("frozen", zeros({1}), false);
  m.register_buffer("count", zeros({}, int64));
  BOOST_TEST(!m.named_parameters().back().second.requires_grad());
  BOOST_TEST(m.named_parameters().back().first == "frozen");
}

BOOST_AUTO_TEST_CASE(sequential_indexing_and_errors) {
  auto shared = std::make_shared<nn::Linear>(2, 2);
  nn::Sequential net(shared, nn::Tanh());
  BOOST_TEST(net.ptr(0).get() == shared.get());
  BOOST_TEST(&net[0] == shared.get());
  BOOST_TEST(!net.empty());
  int count = 0;
  for (const auto& m : net) count += m != nullptr;
  BOOST_TEST(count == 2);
  TF_CHECK_THROWS_WITH(net[2], ValueError, "index 2", "2 modules");
  TF_CHECK_THROWS_WITH(net.at<nn::Linear>(1), ValueError, "at(1)", "Tanh");
  nn::Sequential empty;
  BOOST_TEST(empty.empty());
  TF_CHECK_THROWS_WITH(empty(ones({1, 2})), ValueError, "Sequential", "empty", "push_back");
}

BOOST_AUTO_TEST_CASE(printing) {
  nn::Sequential net(nn::Linear(784, 128), nn::ReLU(), nn::Linear(128, 10, {.bias = false}),
                     nn::LeakyReLU(0.1), nn::Softmax());
  BOOST_TEST(net.str() ==
             "Sequential(\n"
             "  (0): Linear(784, 128)\n"
             "  (1): ReLU()\n"
             "  (2): Linear(128, 10, bias=false)\n"
             "  (3): LeakyReLU(alpha=0.1)\n"
             "  (4): Softmax(axis=-1)\n"
             ")");
  nn::Sequential outer;
  outer.push_back(nn::Sequential(nn::Linear(2, 2, {.dtype = float64}), nn::Tanh()));
  BOOST_TEST(fmt::format("{}", outer) ==
             "Sequential(\n"
             "  (0): Sequential(\n"
             "    (0): Linear(2, 2, dtype=float64)\n"
             "    (1): Tanh()\n"
             "  )\n"
             ")");
  // A user module prints its class name.
  BOOST_TEST(Probe().str() == "Probe()");
  std::ostringstream os;
  os << nn::ReLU6();
  BOOST_TEST(os.str() == "ReLU6()");
}

BOOST_AUTO_TEST_CASE(linear_default_initialisation) {
  // tf.layers.dense: glorot uniform weight [in, out], zero bias [out].
  Generator gen(11);
  nn::Linear lin(300, 200, {.generator = &gen});
  BOOST_TEST(lin.weight().shape() == Shape({300, 200}));
  BOOST_TEST(lin.bias().shape() == Shape({200}));
  BOOST_TEST(lin.weight().dtype() == float32);
  const double limit = std::sqrt(6.0 / 500.0);
  std::vector<double> w = lin.weight().to_vector<double>();
  double lo = 0, hi = 0, sq = 0;
  for (double v : w) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
    sq += v * v;
  }
  BOOST_TEST(lo >= -limit);
  BOOST_TEST(hi <= limit);
  BOOST_TEST(hi > 0.99 * limit);
  BOOST_TEST(std::sqrt(sq / static_cast<double>(w.size())) == limit / std::sqrt(3.0),
             boost::test_tools::tolerance(0.02));
  for (double b : lin.bias().to_vector<double>()) BOOST_TEST(b == 0.0);
  // Seeded: the same generator seed gives the same weight.
  Generator g1(5), g2(5);
  nn::Linear a(3, 4, {.generator = &g1}), b(3, 4, {.generator = &g2});
  BOOST_TEST(a.weight().to_vector<float>() == b.weight().to_vector<float>(), boost::test_tools::per_element());
  // Without bias there is one parameter.
  nn::Linear nb(3, 4, {.bias = false});
  BOOST_TEST(nb.parameters().size() == 1u);
  BOOST_TEST(!nb.bias().defined());
}

BOOST_AUTO_TEST_CASE(linear_forward_value) {
  nn::Linear lin(3, 2);
  Tensor w = lin.weight(), b = lin.bias();
  copy_(w, tensor({{1, 2}, {3, 4}, {5, 6}}));
  copy_(b, tensor({0.5, -1}));
  // [1,0,-1]·W = [1-5, 2-6] = [-4,-4]; + b = [-3.5, -5]
  // [2,1, 0]·W = [2+3, 4+4] = [5, 8];   + b = [5.5, 7]
  Tensor y = lin(tensor({{1, 0, -1}, {2, 1, 0}}));
  BOOST_TEST(y.shape() == Shape({2, 2}));
  tft::check_close(y, {-3.5, -5, 5.5, 7});
  nn::Linear nb(3, 2, {.bias = false});
  Tensor w2 = nb.weight();
  copy_(w2, tensor({{1, 2}, {3, 4}, {5, 6}}));
  tft::check_close(nb(tensor({{1, 1, 1}})), {9, 12});
}

BOOST_AUTO_TEST_CASE(linear_shape_and_dtype_errors) {
  nn::Linear lin(784, 128);
  TF_CHECK_THROWS_WITH(lin(zeros({32, 100})), ShapeError, "Linear(784, 128)", "[..., 784]", "[32,100]");
  TF_CHECK_THROWS_WITH(lin(zeros({784})), ShapeError, "Linear(784, 128)", "[784]", "reshape(x, {-1, 784})");
  TF_CHECK_THROWS_WITH(lin(zeros({2, 28, 28})), ShapeError, "Linear(784, 128)", "[2,28,28]");
  TF_CHECK_THROWS_WITH(lin(zeros({2, 784}, float64)), DTypeError, "Linear(784, 128)", "float64 [2,784]",
                       "float32");
  TF_CHECK_THROWS_WITH(nn::Linear(0, 3), ValueError, "Linear(0, 3)", "positive");
  TF_CHECK_THROWS_WITH(nn::Linear(2, 3, {.dtype = int32}), DTypeError, "Linear(2, 3)", "int32");
  // Inside a Sequential the error still names the layer.
  nn::Sequential net(nn::Linear(4, 3), nn::ReLU(), nn::Linear(2, 1));
  TF_CHECK_THROWS_WITH(net(zeros({5, 4})), ShapeError, "Linear(2, 1)", "[..., 2]", "[5,3]");
}

BOOST_AUTO_TEST_CASE(linear_gradcheck) {
  // float64 parameters via LinearOptions::dtype; gradcheck perturbs the parameter tensors in place.
  for (auto [n, in, out] : {std::tuple{1, 1, 1}, std::tuple{4, 3, 2}, std::tuple{2, 5, 3}}) {
    Generator gen(static_cast<std::uint64_t>(n * 100 + in * 10 + out));
    nn::Linear lin(in, out, {.dtype = float64, .generator = &gen});
    Tensor b = lin.bias();
    copy_(b, random_uniform({out}, -1, 1, float64, &gen));
    Tensor x = tft::rand64({n, in});
    tft::check_grad([&](std::span<const Tensor> in_) { return lin(in_[0]); }, {x, lin.weight(), lin.bias()});
    nn::Linear nb(in, out, {.bias = false, .dtype = float64, .generator = &gen});
    tft::check_grad([&](std::span<const Tensor> in_) { return nb(in_[0]); }, {x, nb.weight()});
  }
  // Through a Sequential with an activation, against all its parameters.
  Generator gen(3);
  nn::Sequential net(nn::Linear(3, 4, {.dtype = float64, .generator = &gen}), nn::Tanh(),
                     nn::Linear(4, 2, {.dtype = float64, .generator = &gen}), nn::Softplus());
  std::vector<Tensor> inputs{tft::rand64({5, 3})};
  for (const Tensor& p : net.parameters()) inputs.push_back(p);
  tft::check_grad([&](std::span<const Tensor> in_) { return net(in_[0]); }, inputs);
}

BOOST_AUTO_TEST_CASE(canonical_mlp_forward_backward) {
  manual_seed(1);
  nn::Sequential net(nn::Linear(784, 128), nn::ReLU(), nn::Linear(128, 32), nn::ReLU(), nn::Linear(32, 10));
  Tensor images = random_uniform({8, 784});
  Tensor logits = net(images);
  BOOST_TEST(logits.shape() == Shape({8, 10}));
  BOOST_TEST(logits.dtype() == float32);
  Tensor labels = from_vector(std::vector<std::int64_t>{0, 1, 2, 3, 4, 5, 6, 7}, {8});
  Tensor loss = reduce_mean(nn::sparse_softmax_cross_entropy_with_logits(labels, logits));
  loss.backward();
  auto named = net.named_parameters();
  BOOST_REQUIRE_EQUAL(named.size(), 6u);
  for (const auto& [name, p] : named) {
    BOOST_TEST_CONTEXT(name) {
      BOOST_REQUIRE(p.grad().defined());
      BOOST_TEST(p.grad().shape() == p.shape());
    }
  }
  // The output layer's bias gradient is mean(softmax - onehot) over the batch: it sums to 0.
  double s = 0;
  for (double g : net.at<nn::Linear>(4).bias().grad().to_vector<double>()) s += g;
  BOOST_TEST(std::abs(s) < 1e-5);
  net.zero_grad();
  for (const Tensor& p : net.parameters()) BOOST_TEST(!p.grad().defined());
  // eval() under NoGradGuard records nothing.
  net.eval();
  NoGradGuard no_grad;
  BOOST_TEST(!net(images).requires_grad());
}

BOOST_AUTO_TEST_CASE(activation_modules) {
  Tensor x = tensor({-2.0, -0.5, 0.0, 0.5, 7.0});
  tft::check_close(nn::ReLU()(x), {0, 0, 0, 0.5, 7});
  tft::check_close(nn::ReLU6()(x), {0, 0, 0, 0.5, 6});
  tft::check_close(nn::LeakyReLU()(x), {-0.4, -0.1, 0, 0.5, 7});
  tft::check_close(nn::LeakyReLU(0.5)(x), {-1, -0.25, 0, 0.5, 7});
  BOOST_TEST(nn::LeakyReLU().alpha() == 0.2);
  tft::check_close(nn::ELU()(x), {std::exp(-2.0) - 1, std::exp(-0.5) - 1, 0, 0.5, 7});
  tft::check_close(nn::Softplus()(x), {std::log1p(std::exp(-2.0)), std::log1p(std::exp(-0.5)), std::log(2.0),
                                       std::log1p(std::exp(0.5)), std::log1p(std::exp(7.0))});
  tft::check_close(nn::Sigmoid()(x), {1 / (1 + std::exp(2.0)), 1 / (1 + std::exp(0.5)), 0.5,
                                      1 / (1 + std::exp(-0.5)), 1 / (1 + std::exp(-7.0))});
  tft::check_close(nn::Tanh()(x), {std::tanh(-2.0), std::tanh(-0.5), 0, std::tanh(0.5), std::tanh(7.0)});
  // softmax of [0, ln 3] = [1/4, 3/4]; along axis 0 of [[0, 0], [ln 3, 0]] columns are [1/4, 3/4], [1/2, 1/2].
  Tensor m = tensor({{0.0, 0.0}, {std::log(3.0), 0.0}});
  tft::check_close(nn::Softmax()(m), {0.5, 0.5, 0.75, 0.25});
  tft::check_close(nn::Softmax(0)(m), {0.25, 0.5, 0.75, 0.5});
  tft::check_close(nn::LogSoftmax()(m), {std::log(0.5), std::log(0.5), std::log(0.75), std::log(0.25)});
  tft::check_close(nn::LogSoftmax(0)(m), {std::log(0.25), std::log(0.5), std::log(0.75), std::log(0.5)});
  BOOST_TEST(nn::Softmax(0).axis() == 0);
  BOOST_TEST(nn::ReLU().parameters().empty());
  TF_CHECK_THROWS_WITH(nn::Softmax(3)(m), ValueError, "3");
}

BOOST_AUTO_TEST_CASE(activation_module_gradients) {
  std::vector<std::shared_ptr<nn::Module>> acts{
      std::make_shared<nn::ReLU>(),    std::make_shared<nn::ReLU6>(),   std::make_shared<nn::LeakyReLU>(0.3),
      std::make_shared<nn::ELU>(),     std::make_shared<nn::Softplus>(), std::make_shared<nn::Sigmoid>(),
      std::make_shared<nn::Tanh>(),    std::make_shared<nn::Softmax>(),  std::make_shared<nn::LogSoftmax>(0)};
  for (auto& act : acts) {
    BOOST_TEST_CONTEXT(act->str()) {
      // Values away from the kinks at 0 and 6.
      tft::check_grad([&](std::span<const Tensor> in) { return (*act)(in[0]); },
                      {from_vector(std::vector<double>{-1.3, -0.4, 0.3, 0.9, 2.1, 5.2}, {2, 3}).requires_grad_()});
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
