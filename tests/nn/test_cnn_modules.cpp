// The CNN modules of nn/layers.h: parameter and buffer names and shapes, default initialisation,
// forward values against hand-computed numbers and the functional ops, train()/eval() behaviour
// of Dropout and BatchNorm, float64 gradchecks through the modules, constructor and input errors,
// and a tiny conv net that learns.
#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "helpers.h"
#include "tapeflow/nn.h"
#include "tapeflow/optim/adam.h"

using namespace tapeflow;
using nn::Padding;

namespace {

std::vector<std::string> names_of(const nn::NamedTensors& named) {
  std::vector<std::string> out;
  for (const auto& [name, t] : named) out.push_back(name);
  return out;
}

/// Overwrites the values of a module's tensor (a shared handle) in place.
void set_values(const Tensor& t, const Tensor& values) { copy_(t, values); }

/// A LeNet-like net on 28x28x1 images: conv(SAME) -> relu -> pool -> conv(VALID) -> batch norm ->
/// relu -> pool -> flatten -> dense -> dropout -> dense.
nn::Sequential lenet(Generator* gen, bool bn_scale = false) {
  return nn::Sequential(nn::Conv2d(1, 6, 5, {.generator = gen}),                               // 0: [N,28,28,6]
                        nn::ReLU(),                                                            // 1
                        nn::MaxPool2d(2),                                                      // 2: [N,14,14,6]
                        nn::Conv2d(6, 16, {5, 5}, {.padding = Padding::Valid, .generator = gen}),  // 3: [N,10,10,16]
                        nn::BatchNorm(16, {.scale = bn_scale}),                                // 4
                        nn::ReLU(),                                                            // 5
                        nn::MaxPool2d({2, 2}),                                                 // 6: [N,5,5,16]
                        nn::Flatten(),                                                         // 7: [N,400]
                        nn::Linear(400, 120, {.generator = gen}),                              // 8
                        nn::Dropout(0.5, {.generator = gen}),                                  // 9
                        nn::Linear(120, 10, {.generator = gen}));                              // 10
}

}  // namespace

BOOST_AUTO_TEST_SUITE(cnn_modules)

// ------------------------------------------------------------------------ names, shapes, printing

BOOST_AUTO_TEST_CASE(lenet_parameter_and_buffer_names) {
  Generator gen(1);
  nn::Sequential net = lenet(&gen);
  std::vector<std::string> expected{"0/weight", "0/bias", "3/weight", "3/bias", "4/beta",
                                    "8/weight", "8/bias", "10/weight", "10/bias"};
  BOOST_TEST(names_of(net.named_parameters()) == expected, boost::test_tools::per_element());
  std::vector<Shape> shapes{{5, 5, 1, 6}, {6}, {5, 5, 6, 16}, {16}, {16}, {400, 120}, {120}, {120, 10}, {10}};
  auto params = net.parameters();
  BOOST_REQUIRE_EQUAL(params.size(), shapes.size());
  for (std::size_t i = 0; i < shapes.size(); ++i) {
    BOOST_TEST_CONTEXT(expected[i]) {
      BOOST_TEST(params[i].shape() == shapes[i]);
      BOOST_TEST(params[i].requires_grad());
      BOOST_TEST(params[i].dtype() == float32);
    }
  }
  std::vector<std::string> buffers{"4/moving_mean", "4/moving_variance"};
  BOOST_TEST(names_of(net.named_buffers()) == buffers, boost::test_tools::per_element());
  for (const Tensor& b : net.buffers()) {
    BOOST_TEST(b.shape() == Shape({16}));
    BOOST_TEST(!b.requires_grad());
  }
  // The module's accessors hand out the registered tensors themselves.
  BOOST_TEST(net.at<nn::Conv2d>(3).weight().is_same(params[2]));
  BOOST_TEST(net.at<nn::BatchNorm>(4).moving_mean().is_same(net.buffers()[0]));
  BOOST_TEST(!net.at<nn::BatchNorm>(4).gamma().defined());

  // With scale=true the batch norm also learns gamma (after beta, as tf.contrib.layers creates them).
  nn::Sequential scaled = lenet(&gen, true);
  auto names = names_of(scaled.named_parameters());
  BOOST_REQUIRE_EQUAL(names.size(), 10u);
  BOOST_TEST(names[4] == "4/beta");
  BOOST_TEST(names[5] == "4/gamma");
  tft::check_close(scaled.at<nn::BatchNorm>(4).gamma(), std::vector<double>(16, 1.0), 0, 0);

  // Forward: [2,28,28,1] -> [2,10]; backward reaches every parameter.
  Tensor logits = net(random_uniform({2, 28, 28, 1}, 0, 1, float32, &gen));
  BOOST_TEST(logits.shape() == Shape({2, 10}));
  reduce_sum(square(logits)).backward();
  for (const auto& [name, p] : net.named_parameters()) {
    BOOST_TEST_CONTEXT(name) {
      BOOST_REQUIRE(p.grad().defined());
      BOOST_TEST(p.grad().shape() == p.shape());
    }
  }
}

BOOST_AUTO_TEST_CASE(printing) {
  Generator gen(1);
  BOOST_TEST(lenet(&gen).str() ==
             "Sequential(\n"
             "  (0): Conv2d(1, 6, kernel_size=[5,5], strides=[1,1], padding=SAME)\n"
             "  (1): ReLU()\n"
             "  (2): MaxPool2d(kernel_size=[2,2], strides=[2,2], padding=VALID)\n"
             "  (3): Conv2d(6, 16, kernel_size=[5,5], strides=[1,1], padding=VALID)\n"
             "  (4): BatchNorm(16, decay=0.999, epsilon=0.001, center=true, scale=false)\n"
             "  (5): ReLU()\n"
             "  (6): MaxPool2d(kernel_size=[2,2], strides=[2,2], padding=VALID)\n"
             "  (7): Flatten()\n"
             "  (8): Linear(400, 120)\n"
             "  (9): Dropout(keep_prob=0.5)\n"
             "  (10): Linear(120, 10)\n"
             ")");
  BOOST_TEST(nn::Conv2d(1, 20, 5).str() == "Conv2d(1, 20, kernel_size=[5,5], strides=[1,1], padding=SAME)");
  BOOST_TEST(nn::Conv2d(3, 8, {3, 1}, {.strides = {2, 1}, .bias = false, .dtype = float64}).str() ==
             "Conv2d(3, 8, kernel_size=[3,1], strides=[2,1], padding=SAME, bias=false, dtype=float64)");
  BOOST_TEST(nn::AvgPool2d({3, 2}, {.strides = 1, .padding = Padding::Same}).str() ==
             "AvgPool2d(kernel_size=[3,2], strides=[1,1], padding=SAME)");
  BOOST_TEST(fmt::format("{}", nn::LocalResponseNorm()) ==
             "LocalResponseNorm(depth_radius=5, bias=1, alpha=1, beta=0.5)");
  BOOST_TEST(nn::LocalResponseNorm({.depth_radius = 2, .bias = 2, .alpha = 1e-4, .beta = 0.75}).str() ==
             "LocalResponseNorm(depth_radius=2, bias=2, alpha=0.0001, beta=0.75)");
  BOOST_TEST(nn::BatchNorm(4, {.decay = 0.9, .center = false, .scale = true, .dtype = float64}).str() ==
             "BatchNorm(4, decay=0.9, epsilon=0.001, center=false, scale=true, dtype=float64)");
  std::ostringstream os;
  os << nn::Dropout(0.75);
  BOOST_TEST(os.str() == "Dropout(keep_prob=0.75)");
}

// ------------------------------------------------------------------------------------- Conv2d

BOOST_AUTO_TEST_CASE(conv2d_default_initialisation) {
  // tf.layers.conv2d: glorot uniform over fans scaled by the receptive field, zero bias.
  Generator gen(11);
  nn::Conv2d conv(16, 32, 5, {.generator = &gen});
  BOOST_TEST(conv.weight().shape() == Shape({5, 5, 16, 32}));
  BOOST_TEST(conv.bias().shape() == Shape({32}));
  BOOST_TEST((conv.kernel_size() == nn::Size2(5, 5)));
  BOOST_TEST(conv.in_channels() == 16);
  BOOST_TEST(conv.out_channels() == 32);
  const double limit = std::sqrt(6.0 / (25.0 * (16 + 32)));
  std::vector<double> w = conv.weight().to_vector<double>();
  double lo = 0, hi = 0, sq = 0;
  for (double v : w) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
    sq += v * v;
  }
  BOOST_TEST(lo >= -limit);
  BOOST_TEST(hi <= limit);
  BOOST_TEST(hi > 0.99 * limit);
  BOOST_TEST(lo < -0.99 * limit);
  BOOST_TEST(std::sqrt(sq / static_cast<double>(w.size())) == limit / std::sqrt(3.0),
             boost::test_tools::tolerance(0.02));
  for (double b : conv.bias().to_vector<double>()) BOOST_TEST(b == 0.0);
  // Seeded: the same seed gives the same weight.
  Generator g1(5), g2(5);
  nn::Conv2d a(2, 3, {3, 2}, {.generator = &g1}), b(2, 3, {3, 2}, {.generator = &g2});
  BOOST_TEST(a.weight().shape() == Shape({3, 2, 2, 3}));
  BOOST_TEST(a.weight().to_vector<float>() == b.weight().to_vector<float>(), boost::test_tools::per_element());
  // Without bias there is one parameter; float64 on request.
  nn::Conv2d nb(2, 3, 3, {.bias = false, .dtype = float64});
  BOOST_TEST(nb.parameters().size() == 1u);
  BOOST_TEST(!nb.bias().defined());
  BOOST_TEST(nb.weight().dtype() == float64);
}

BOOST_AUTO_TEST_CASE(conv2d_forward_values) {
  // The 3x3 image 1..9 and the 2x2 filter 1..4, VALID:
  //   [1 2;4 5]·[1 2;3 4] = 1+4+12+20 = 37, then 47, 67, 77; plus the bias 0.5.
  nn::Conv2d conv(1, 1, 2, {.padding = Padding::Valid});
  set_values(conv.weight(), reshape(arange(1, 5), {2, 2, 1, 1}));
  set_values(conv.bias(), tensor({0.5}));
  Tensor x = reshape(arange(1, 10), {1, 3, 3, 1});
  Tensor y = conv(x);
  BOOST_TEST(y.shape() == Shape({1, 2, 2, 1}));
  tft::check_close(y, {37.5, 47.5, 67.5, 77.5});
  // SAME pads one row and column after (pad_total 1: 0 before, 1 after): the last column sees
  // [3 0;6 0]·[1 2;3 4] = 3 + 18 = 21, the bottom-right 9·1 = 9.
  nn::Conv2d same(1, 1, 2, {.bias = false});
  set_values(same.weight(), reshape(arange(1, 5), {2, 2, 1, 1}));
  tft::check_close(same(x), {37, 47, 21, 67, 77, 33, 23, 26, 9});

  // Random data, several geometries: the module equals conv2d + bias_add with its parameters.
  Generator gen(3);
  for (auto [k, s, padding] : {std::tuple{nn::Size2(3), nn::Size2(1), Padding::Same},
                               std::tuple{nn::Size2(3, 2), nn::Size2(2, 1), Padding::Valid},
                               std::tuple{nn::Size2(1), nn::Size2(2), Padding::Same}}) {
    nn::Conv2d m(3, 4, k, {.strides = s, .padding = padding, .generator = &gen});
    set_values(m.bias(), random_uniform({4}, -1, 1, float32, &gen));
    Tensor in = random_uniform({2, 7, 6, 3}, -1, 1, float32, &gen);
    Tensor expected = nn::conv2d(in, m.weight(), m.bias(), {static_cast<int>(s.height), static_cast<int>(s.width)},
                                 padding);
    Tensor got = m(in);
    BOOST_TEST(got.shape() == expected.shape());
    tft::check_close(got, expected.to_vector<double>(), 1e-6, 1e-6);
  }
}

// -------------------------------------------------------------------------------------- pools

BOOST_AUTO_TEST_CASE(pool_forward_values) {
  Tensor x = reshape(arange(1, 17), {1, 4, 4, 1});  // rows 1..4, 5..8, 9..12, 13..16
  nn::MaxPool2d mp(2);
  BOOST_TEST((mp.strides() == nn::Size2(2, 2)));  // strides default to the kernel
  BOOST_TEST((mp.padding() == Padding::Valid));
  Tensor y = mp(x);
  BOOST_TEST(y.shape() == Shape({1, 2, 2, 1}));
  tft::check_close(y, {6, 8, 14, 16});
  nn::AvgPool2d ap({2, 2});
  tft::check_close(ap(x), {3.5, 5.5, 11.5, 13.5});
  // Overlapping 3x3 windows with stride 1, VALID: 2x2 outputs.
  tft::check_close(nn::MaxPool2d(3, {.strides = 1})(x), {11, 12, 15, 16});
  tft::check_close(nn::AvgPool2d(3, {.strides = {1, 1}})(x), {6, 7, 10, 11});
  // SAME with a 3x3 window on 4x4, stride 2: out 2x2, pad_total 1 (0 before, 1 after); the edge
  // windows average over the positions inside the input only.
  tft::check_close(nn::AvgPool2d(3, {.strides = 2, .padding = Padding::Same})(x),
                   {6, 7.5, 12, 13.5});
  tft::check_close(nn::MaxPool2d(3, {.strides = 2, .padding = Padding::Same})(x), {11, 12, 15, 16});

  // Random data: the modules equal the functional ops.
  Generator gen(9);
  Tensor r = random_uniform({2, 7, 5, 3}, -1, 1, float32, &gen);
  nn::MaxPool2d m({3, 2}, {.strides = {2, 1}, .padding = Padding::Same});
  tft::check_close(m(r), nn::max_pool(r, {3, 2}, {2, 1}, Padding::Same).to_vector<double>(), 0, 0);
  nn::AvgPool2d a({2, 3}, {.strides = {1, 2}});
  tft::check_close(a(r), nn::avg_pool(r, {2, 3}, {1, 2}, Padding::Valid).to_vector<double>(), 0, 0);
  BOOST_TEST(m.parameters().empty());
  BOOST_TEST(a.buffers().empty());
}

// --------------------------------------------------------------------------- LocalResponseNorm

BOOST_AUTO_TEST_CASE(local_response_norm_forward_values) {
  nn::LocalResponseNorm lrn;
  BOOST_TEST(lrn.options().depth_radius == 5);
  BOOST_TEST(lrn.options().bias == 1.0);
  BOOST_TEST(lrn.options().alpha == 1.0);
  BOOST_TEST(lrn.options().beta == 0.5);
  // One position, channels [1, 2], radius 5 covers both: x / sqrt(1 + 1 + 4).
  Tensor x = reshape(tensor({1.0, 2.0}), {1, 1, 1, 2});
  tft::check_close(lrn(x), {1 / std::sqrt(6.0), 2 / std::sqrt(6.0)});
  // Radius 0: each channel alone, x / (2 + 0.5 x^2)^0.75.
  nn::LocalResponseNorm own({.depth_radius = 0, .bias = 2, .alpha = 0.5, .beta = 0.75});
  tft::check_close(own(x), {1 / std::pow(2.5, 0.75), 2 / std::pow(4.0, 0.75)});
  // Random data against the functional op.
  Generator gen(4);
  Tensor r = random_uniform({2, 3, 2, 7}, -1, 1, float32, &gen);
  nn::LocalResponseNorm l2({.depth_radius = 2, .bias = 1.5, .alpha = 0.3, .beta = 0.6});
  tft::check_close(l2(r), nn::local_response_normalization(r, 2, 1.5, 0.3, 0.6).to_vector<double>(), 0, 0);
}

// ---------------------------------------------------------------------------------- BatchNorm

BOOST_AUTO_TEST_CASE(batch_norm_defaults_follow_contrib) {
  nn::BatchNorm bn(3);
  BOOST_TEST(bn.options().decay == 0.999);
  BOOST_TEST(bn.options().epsilon == 0.001);
  BOOST_TEST(bn.options().center);
  BOOST_TEST(!bn.options().scale);
  BOOST_TEST(bn.num_features() == 3);
  std::vector<std::string> params{"beta"}, buffers{"moving_mean", "moving_variance"};
  BOOST_TEST(names_of(bn.named_parameters()) == params, boost::test_tools::per_element());
  BOOST_TEST(names_of(bn.named_buffers()) == buffers, boost::test_tools::per_element());
  tft::check_close(bn.beta(), {0, 0, 0}, 0, 0);
  tft::check_close(bn.moving_mean(), {0, 0, 0}, 0, 0);
  tft::check_close(bn.moving_variance(), {1, 1, 1}, 0, 0);
  nn::BatchNorm bare(3, {.center = false});
  BOOST_TEST(bare.parameters().empty());
  BOOST_TEST(bare.buffers().size() == 2u);
}

BOOST_AUTO_TEST_CASE(batch_norm_training_and_eval) {
  const double eps = 0.001;
  nn::BatchNorm bn(2, {.decay = 0.9, .scale = true});
  set_values(bn.beta(), tensor({0.5, -1.0}));
  set_values(bn.gamma(), tensor({2.0, 1.0}));
  // Channel 0: 1,3,5,7 -> mean 4, biased variance 5. Channel 1: 2,4,6,12 -> mean 6, variance 14.
  Tensor x = tensor({{1, 2}, {3, 4}, {5, 6}, {7, 12}});
  BOOST_TEST(bn.is_training());
  Tensor y = bn(x);
  std::vector<double> expected;
  const double xv[4][2] = {{1, 2}, {3, 4}, {5, 6}, {7, 12}};
  for (const auto& row : xv) {
    expected.push_back(2.0 * (row[0] - 4) / std::sqrt(5 + eps) + 0.5);
    expected.push_back(1.0 * (row[1] - 6) / std::sqrt(14 + eps) - 1.0);
  }
  tft::check_close(y, expected, 1e-5, 1e-5);
  // The moving statistics moved (decay 0.9): 0.9 * old + 0.1 * batch.
  tft::check_close(bn.moving_mean(), {0.4, 0.6});
  tft::check_close(bn.moving_variance(), {0.9 + 0.5, 0.9 + 1.4});
  // A second training step moves them again.
  (void)bn(x);
  tft::check_close(bn.moving_mean(), {0.9 * 0.4 + 0.4, 0.9 * 0.6 + 0.6});
  tft::check_close(bn.moving_variance(), {0.9 * 1.4 + 0.5, 0.9 * 2.3 + 1.4});

  // Eval: the moving statistics normalise, and stay where they are.
  const std::vector<double> mm = bn.moving_mean().to_vector<double>(), mv = bn.moving_variance().to_vector<double>();
  bn.eval();
  Tensor z = bn(x);
  std::vector<double> expected_eval;
  for (const auto& row : xv) {
    expected_eval.push_back(2.0 * (row[0] - mm[0]) / std::sqrt(mv[0] + eps) + 0.5);
    expected_eval.push_back(1.0 * (row[1] - mm[1]) / std::sqrt(mv[1] + eps) - 1.0);
  }
  tft::check_close(z, expected_eval, 1e-5, 1e-5);
  BOOST_TEST(bn.moving_mean().to_vector<double>() == mm, boost::test_tools::per_element());
  BOOST_TEST(bn.moving_variance().to_vector<double>() == mv, boost::test_tools::per_element());
  // Back to training: batch statistics again, and the buffers move again.
  bn.train();
  tft::check_close(bn(x), expected, 1e-5, 1e-5);
  BOOST_TEST(bn.moving_mean().to_vector<double>()[0] != mm[0]);
}

BOOST_AUTO_TEST_CASE(batch_norm_nhwc_matches_functional) {
  // [N,H,W,C]: normalised over N, H and W per channel, as nn::batch_norm.
  Generator gen(8);
  Tensor x = random_uniform({2, 3, 4, 5}, -2, 3, float32, &gen);
  nn::BatchNorm bn(5, {.decay = 0.5, .scale = true});
  set_values(bn.beta(), random_uniform({5}, -1, 1, float32, &gen));
  set_values(bn.gamma(), random_uniform({5}, 0.5, 2, float32, &gen));
  Tensor mm = zeros({5}), mv = ones({5});
  Tensor expected = nn::batch_norm(x, bn.gamma(), bn.beta(), mm, mv, true, 0.5, 0.001);
  tft::check_close(bn(x), expected.to_vector<double>(), 1e-6, 1e-6);
  tft::check_close(bn.moving_mean(), mm.to_vector<double>(), 1e-6, 1e-6);
  tft::check_close(bn.moving_variance(), mv.to_vector<double>(), 1e-6, 1e-6);
  // Each channel of the training output has mean beta (gamma scales a zero-mean, unit-variance map).
  tft::check_close(reduce_mean(bn(x), {0, 1, 2}), bn.beta().to_vector<double>(), 1e-5, 1e-5);
  bn.eval();
  Tensor expected_eval = nn::batch_norm(x, bn.gamma(), bn.beta(), bn.moving_mean(), bn.moving_variance(), false,
                                        0.5, 0.001);
  tft::check_close(bn(x), expected_eval.to_vector<double>(), 1e-6, 1e-6);
}

// ------------------------------------------------------------------------------ Dropout, Flatten

BOOST_AUTO_TEST_CASE(dropout_only_in_training) {
  Generator g1(21), g2(21);
  nn::Dropout drop(0.25, {.generator = &g1});
  BOOST_TEST(drop.keep_prob() == 0.25);
  Tensor x = ones({40, 50});
  Tensor y = drop(x);
  // The same mask as the functional op with the same seed; kept elements are scaled by 4.
  tft::check_close(y, nn::dropout(x, 0.25, &g2).to_vector<double>(), 0, 0);
  int kept = 0;
  for (double v : y.to_vector<double>()) {
    BOOST_TEST((v == 0.0 || v == 4.0));
    kept += v != 0.0;
  }
  BOOST_TEST(kept > 400);  // about 500 of 2000
  BOOST_TEST(kept < 600);
  // A new mask on every call.
  BOOST_TEST((drop(x).to_vector<double>() != y.to_vector<double>()));

  // eval(): the identity, the input itself.
  drop.eval();
  BOOST_TEST(drop(x).is_same(x));
  drop.train();
  BOOST_TEST(!drop(x).is_same(x));
  // Inside a Sequential, eval() reaches it.
  nn::Sequential net(nn::Dropout(0.5), nn::Flatten());
  net.eval();
  tft::check_close(net(full({2, 3}, 7.0)), std::vector<double>(6, 7.0), 0, 0);
  // keep_prob = 1 keeps everything even in training.
  nn::Dropout keep_all(1.0);
  BOOST_TEST(keep_all(x).is_same(x));
  // The gradient uses the mask: dx = mask / keep_prob.
  Generator g3(4);
  nn::Dropout d2(0.5, {.generator = &g3});
  Tensor v = ones({6, 6}, float64).requires_grad_();
  Tensor out = d2(v);
  reduce_sum(out).backward();
  tft::check_close(v.grad(), out.to_vector<double>(), 0, 0);
}

BOOST_AUTO_TEST_CASE(flatten_module) {
  Tensor x = reshape(arange(0, 120), {2, 3, 4, 5});
  Tensor y = nn::Flatten()(x);
  BOOST_TEST(y.shape() == Shape({2, 60}));
  tft::check_close(y, x.to_vector<double>(), 0, 0);
  BOOST_TEST(nn::Flatten()(zeros({7})).shape() == Shape({7, 1}));
  BOOST_TEST(nn::Flatten().str() == "Flatten()");
}

// --------------------------------------------------------------------------------- gradchecks

BOOST_AUTO_TEST_CASE(conv2d_gradcheck) {
  struct Case {
    std::int64_t n, h, w, in, out;
    nn::Size2 kernel, strides;
    Padding padding;
    bool bias;
  };
  const Case cases[] = {
      {1, 1, 1, 1, 1, 1, 1, Padding::Same, true},                // 1x1 everything
      {2, 4, 4, 2, 3, 3, 1, Padding::Same, true},                // 3x3 SAME
      {1, 5, 4, 2, 2, {3, 2}, {2, 1}, Padding::Valid, false},    // rectangular, strided, VALID
      {2, 3, 3, 1, 2, 2, {1, 2}, Padding::Same, true},           // odd padding
  };
  for (const Case& c : cases) {
    BOOST_TEST_CONTEXT("input [" << c.n << "," << c.h << "," << c.w << "," << c.in << "] kernel "
                                 << c.kernel.str() << " strides " << c.strides.str()) {
      Generator gen(static_cast<std::uint64_t>(c.n * 1000 + c.h * 100 + c.w * 10 + c.in));
      nn::Conv2d conv(c.in, c.out, c.kernel,
                      {.strides = c.strides, .padding = c.padding, .bias = c.bias, .dtype = float64, .generator = &gen});
      std::vector<Tensor> inputs{tft::rand64({c.n, c.h, c.w, c.in})};
      if (c.bias) set_values(conv.bias(), random_uniform({c.out}, -1, 1, float64, &gen));
      for (const Tensor& p : conv.parameters()) inputs.push_back(p);
      tft::check_grad([&](std::span<const Tensor> in) { return conv(in[0]); }, inputs);
    }
  }
}

BOOST_AUTO_TEST_CASE(batch_norm_gradcheck) {
  for (const Shape& shape : {Shape{1, 1}, Shape{3, 2}, Shape{4, 1}, Shape{2, 3, 3, 2}}) {
    BOOST_TEST_CONTEXT(shape.str()) {
      const std::int64_t C = shape[shape.rank() - 1];
      Generator gen(static_cast<std::uint64_t>(shape.numel()));
      nn::BatchNorm bn(C, {.decay = 0.9, .scale = true, .dtype = float64});
      set_values(bn.beta(), random_uniform({C}, -1, 1, float64, &gen));
      set_values(bn.gamma(), random_uniform({C}, 0.5, 1.5, float64, &gen));
      Tensor x = tft::rand64(shape);
      // Training: through the batch statistics.
      tft::check_grad([&](std::span<const Tensor> in) { return bn(in[0]); }, {x, bn.beta(), bn.gamma()});
      // Eval: through the (fixed) moving statistics.
      set_values(bn.moving_mean(), random_uniform({C}, -0.5, 0.5, float64, &gen));
      set_values(bn.moving_variance(), random_uniform({C}, 0.5, 2, float64, &gen));
      bn.eval();
      tft::check_grad([&](std::span<const Tensor> in) { return bn(in[0]); }, {x, bn.beta(), bn.gamma()});
    }
  }
  // The default (no gamma) on NHWC.
  nn::BatchNorm plain(2, {.dtype = float64});
  tft::check_grad([&](std::span<const Tensor> in) { return plain(in[0]); },
                  {tft::rand64({2, 2, 3, 2}), plain.beta()});
}

BOOST_AUTO_TEST_CASE(small_conv_net_gradcheck) {
  // Every module of the file in one float64 net, checked against all its parameters. Values stay
  // away from max-pool ties and ReLU kinks with random data.
  Generator gen(17);
  nn::Sequential net(nn::Conv2d(2, 3, 3, {.dtype = float64, .generator = &gen}), nn::Tanh(),
                     nn::LocalResponseNorm({.depth_radius = 1, .alpha = 0.5, .beta = 0.75}),
                     nn::BatchNorm(3, {.scale = true, .dtype = float64}), nn::MaxPool2d(2),
                     nn::AvgPool2d(2, {.strides = 1, .padding = Padding::Same}), nn::Flatten(),
                     nn::Linear(12, 2, {.dtype = float64, .generator = &gen}));
  std::vector<Tensor> inputs{tft::rand64({2, 4, 4, 2})};
  for (const Tensor& p : net.parameters()) inputs.push_back(p);
  BOOST_TEST(inputs.size() == 7u);
  tft::check_grad([&](std::span<const Tensor> in) { return net(in[0]); }, inputs);
}

// ------------------------------------------------------------------------------------- errors

BOOST_AUTO_TEST_CASE(constructor_validation) {
  TF_CHECK_THROWS_WITH(nn::Conv2d(0, 20, 5), ValueError, "Conv2d(0, 20, kernel_size=[5,5])",
                       "in_channels and out_channels must be positive");
  TF_CHECK_THROWS_WITH(nn::Conv2d(1, -2, 5), ValueError, "Conv2d(1, -2, kernel_size=[5,5])", "must be positive");
  TF_CHECK_THROWS_WITH(nn::Conv2d(1, 20, {0, 5}), ValueError, "Conv2d(1, 20, kernel_size=[0,5])",
                       "kernel_size must be positive, got [0,5]");
  TF_CHECK_THROWS_WITH(nn::Conv2d(1, 20, 5, {.strides = {1, 0}}), ValueError, "Conv2d(1, 20",
                       "strides must be positive, got [1,0]");
  TF_CHECK_THROWS_WITH(nn::Conv2d(1, 20, {1, std::int64_t{1} << 40}), ValueError, "kernel_size", "too large");
  TF_CHECK_THROWS_WITH(nn::Conv2d(1, 20, 5, {.dtype = int32}), DTypeError, "Conv2d(1, 20",
                       "dtype must be float32 or float64, got int32");
  TF_CHECK_THROWS_WITH(nn::MaxPool2d(0), ValueError, "MaxPool2d(kernel_size=[0,0]", "kernel_size must be positive");
  TF_CHECK_THROWS_WITH(nn::AvgPool2d(2, {.strides = {-1, 1}}), ValueError, "AvgPool2d(kernel_size=[2,2]",
                       "strides must be positive, got [-1,1]");
  TF_CHECK_THROWS_WITH(nn::LocalResponseNorm({.depth_radius = -1}), ValueError, "LocalResponseNorm(depth_radius=-1",
                       "depth_radius must be >= 0, got -1");
  TF_CHECK_THROWS_WITH(nn::BatchNorm(0), ValueError, "BatchNorm(0,", "num_features must be positive");
  TF_CHECK_THROWS_WITH(nn::BatchNorm(8, {.decay = 1.5}), ValueError, "BatchNorm(8, decay=1.5",
                       "decay must be in [0, 1], got 1.5");
  TF_CHECK_THROWS_WITH(nn::BatchNorm(8, {.decay = -0.1}), ValueError, "decay must be in [0, 1], got -0.1");
  TF_CHECK_THROWS_WITH(nn::BatchNorm(8, {.decay = std::nan("")}), ValueError, "decay must be in [0, 1]");
  TF_CHECK_THROWS_WITH(nn::BatchNorm(8, {.epsilon = -1}), ValueError, "BatchNorm(8", "epsilon must be >= 0, got -1");
  TF_CHECK_THROWS_WITH(nn::BatchNorm(8, {.dtype = int64}), DTypeError, "BatchNorm(8", "int64");
  TF_CHECK_THROWS_WITH(nn::Dropout(1.5), ValueError, "Dropout(keep_prob=1.5)", "keep_prob must be in (0, 1], got 1.5",
                       "probability of keeping");
  TF_CHECK_THROWS_WITH(nn::Dropout(0.0), ValueError, "Dropout(keep_prob=0)", "keep_prob must be in (0, 1], got 0");
  TF_CHECK_THROWS_WITH(nn::Dropout(-0.5), ValueError, "keep_prob must be in (0, 1], got -0.5");
  // The boundaries that are allowed.
  BOOST_CHECK_NO_THROW(nn::Dropout(1.0));
  BOOST_CHECK_NO_THROW(nn::BatchNorm(1, {.decay = 0.0, .epsilon = 0.0}));
  BOOST_CHECK_NO_THROW(nn::BatchNorm(1, {.decay = 1.0}));
  BOOST_CHECK_NO_THROW(nn::LocalResponseNorm({.depth_radius = 0}));
}

BOOST_AUTO_TEST_CASE(input_errors_name_the_module) {
  nn::Conv2d conv(1, 20, 5);
  const char* conv_name = "Conv2d(1, 20, kernel_size=[5,5], strides=[1,1], padding=SAME)";
  TF_CHECK_THROWS_WITH(conv(zeros({2, 28, 28})), ShapeError, conv_name, "expected an input [N,H,W,1], got [2,28,28]",
                       "reshape(x, {-1, 28, 28, 1})");
  TF_CHECK_THROWS_WITH(conv(zeros({2, 784})), ShapeError, conv_name, "got [2,784]", "reshape(x, {-1, 28, 28, 1})");
  nn::Conv2d rgb(3, 8, 3);
  TF_CHECK_THROWS_WITH(rgb(zeros({2, 3, 32, 32})), ShapeError, "Conv2d(3, 8, kernel_size=[3,3]",
                       "expected an input [N,H,W,3], got [2,3,32,32]", "NHWC", "transpose(x, {0, 2, 3, 1})");
  TF_CHECK_THROWS_WITH(rgb(zeros({2, 32, 32, 4})), ShapeError, "[N,H,W,3]", "[2,32,32,4]", "4 channels");
  TF_CHECK_THROWS_WITH(rgb(zeros({32, 32, 3})), ShapeError, "[32,32,3]", "reshape(x, {1, 32, 32, 3})");
  TF_CHECK_THROWS_WITH(conv(zeros({1, 28, 28, 1}, float64)), DTypeError, conv_name, "float64 [1,28,28,1]",
                       "Conv2dOptions{.dtype = float64}");
  TF_CHECK_THROWS_WITH(conv(Tensor()), ValueError, conv_name, "undefined");
  // An error of the functional op underneath is prefixed with the module.
  nn::Conv2d valid(1, 2, 5, {.padding = Padding::Valid});
  TF_CHECK_THROWS_WITH(valid(zeros({1, 3, 3, 1})), ShapeError,
                       "Conv2d(1, 2, kernel_size=[5,5], strides=[1,1], padding=VALID): conv2d:", "larger than the input");

  TF_CHECK_THROWS_WITH(nn::MaxPool2d(2)(zeros({4, 8})), ShapeError,
                       "MaxPool2d(kernel_size=[2,2], strides=[2,2], padding=VALID): expected an input [N,H,W,C], "
                       "got [4,8]");
  TF_CHECK_THROWS_WITH(nn::MaxPool2d(3)(zeros({1, 2, 2, 1})), ShapeError, "MaxPool2d(kernel_size=[3,3]",
                       "max_pool", "larger than the input");
  TF_CHECK_THROWS_WITH(nn::AvgPool2d(2)(zeros({2, 4, 4, 1}, int32)), DTypeError, "AvgPool2d(kernel_size=[2,2]",
                       "int32");
  TF_CHECK_THROWS_WITH(nn::LocalResponseNorm()(zeros({2, 3})), ShapeError,
                       "LocalResponseNorm(depth_radius=5, bias=1, alpha=1, beta=0.5): expected an input [N,H,W,C], "
                       "got [2,3]");
  nn::BatchNorm bn(16);
  const char* bn_name = "BatchNorm(16, decay=0.999, epsilon=0.001, center=true, scale=false)";
  TF_CHECK_THROWS_WITH(bn(zeros({8, 10})), ShapeError, bn_name, "expected an input [N,16] or [N,H,W,16]", "[8,10]");
  TF_CHECK_THROWS_WITH(bn(zeros({16})), ShapeError, bn_name, "got [16]");
  TF_CHECK_THROWS_WITH(bn(zeros({2, 16, 5, 5})), ShapeError, bn_name, "transpose(x, {0, 2, 3, 1})");
  TF_CHECK_THROWS_WITH(bn(zeros({4, 16}, float64)), DTypeError, bn_name, "float64 [4,16]",
                       "BatchNormOptions{.dtype = float64}");
  TF_CHECK_THROWS_WITH(nn::Dropout(0.5)(zeros({2}, int32)), DTypeError, "Dropout(keep_prob=0.5): dropout", "int32");
  TF_CHECK_THROWS_WITH(nn::Flatten()(scalar(1.0)), ShapeError, "Flatten(): flatten", "scalar");
  // A failed training step leaves the moving statistics alone.
  tft::check_close(bn.moving_mean(), std::vector<double>(16, 0.0), 0, 0);
  // Inside a Sequential the error names the layer that failed.
  Generator gen(2);
  nn::Sequential net = lenet(&gen);
  TF_CHECK_THROWS_WITH(net(zeros({2, 32, 32, 1})), ShapeError, "Linear(400, 120)", "[2,576]");
  TF_CHECK_THROWS_WITH(net(zeros({2, 28, 28, 3})), ShapeError, "Conv2d(1, 6, kernel_size=[5,5]", "3 channels");
}

// ------------------------------------------------------------------------------- end to end

BOOST_AUTO_TEST_CASE(tiny_conv_net_learns) {
  // 16 random 8x8x1 images, each with a bright 2x2 blob in one quadrant; the label is the
  // quadrant. Conv2d 3x3 -> ReLU -> MaxPool2d -> Flatten -> Linear, 30 Adam steps.
  Generator gen(2024);
  const std::int64_t N = 16;
  std::vector<float> pixels(static_cast<std::size_t>(N * 64));
  std::vector<std::int64_t> labels(static_cast<std::size_t>(N));
  std::vector<double> noise = random_uniform({N * 64}, 0, 0.3, float64, &gen).to_vector<double>();
  std::vector<double> where = random_uniform({N, 2}, 0, 3, float64, &gen).to_vector<double>();
  for (std::int64_t n = 0; n < N; ++n) {
    const std::int64_t q = n % 4, top = (q / 2) * 4, left = (q % 2) * 4;
    const auto di = static_cast<std::int64_t>(where[static_cast<std::size_t>(2 * n)]);
    const auto dj = static_cast<std::int64_t>(where[static_cast<std::size_t>(2 * n + 1)]);
    labels[static_cast<std::size_t>(n)] = q;
    for (std::int64_t p = 0; p < 64; ++p)
      pixels[static_cast<std::size_t>(n * 64 + p)] = static_cast<float>(noise[static_cast<std::size_t>(n * 64 + p)]);
    for (std::int64_t i = 0; i < 2; ++i)
      for (std::int64_t j = 0; j < 2; ++j)
        pixels[static_cast<std::size_t>(n * 64 + (top + di + i) * 8 + left + dj + j)] = 1.0f;
  }
  Tensor images = from_vector(pixels, {N, 8, 8, 1});
  Tensor y = from_vector(labels, {N});

  nn::Sequential net(nn::Conv2d(1, 4, 3, {.generator = &gen}), nn::ReLU(), nn::MaxPool2d(2), nn::Flatten(),
                     nn::Linear(4 * 4 * 4, 4, {.generator = &gen}));
  optim::Adam opt(net.parameters(), {.lr = 0.02});
  std::vector<double> losses;
  for (int step = 0; step < 30; ++step) {
    opt.zero_grad();
    Tensor loss = reduce_mean(nn::sparse_softmax_cross_entropy_with_logits(y, net(images)));
    loss.backward();
    opt.step();
    losses.push_back(loss.item<double>());
  }
  BOOST_TEST_MESSAGE("loss " << losses.front() << " -> " << losses.back());
  BOOST_TEST(losses.front() > 1.0);  // about ln 4 = 1.39 at the start
  BOOST_TEST(losses.back() < 0.5 * losses.front());
  // And it classifies the training images.
  net.eval();
  NoGradGuard no_grad;
  std::vector<double> logits = net(images).to_vector<double>();
  int correct = 0;
  for (std::int64_t n = 0; n < N; ++n) {
    std::int64_t best = 0;
    for (std::int64_t k = 1; k < 4; ++k)
      if (logits[static_cast<std::size_t>(n * 4 + k)] > logits[static_cast<std::size_t>(n * 4 + best)]) best = k;
    correct += best == labels[static_cast<std::size_t>(n)];
  }
  BOOST_TEST(correct >= 14);
}

BOOST_AUTO_TEST_SUITE_END()
