// local_response_normalization, moments, batch_normalization and batch_norm: values (checked
// against numpy), gradchecks, moving statistics, the fused kernel against the composed formula,
// the parallel paths against one thread, and error messages.
#include <cmath>

#include "helpers.h"
#include "tapeflow/nn/norm.h"

using namespace tapeflow;

namespace {

/// Positive float64 leaf (variances).
Tensor positive64(const Shape& s, unsigned seed = 11) { return tft::rand64(s, 0.5, 2.0, seed); }

/// A straightforward LRN in double, for comparing the kernel at large sizes.
std::vector<double> naive_lrn(const Tensor& x, std::int64_t r, double bias, double alpha, double beta) {
  std::vector<double> v = x.to_vector<double>(), out(v.size());
  const std::int64_t C = x.dim(3), rows = x.numel() / C;
  for (std::int64_t row = 0; row < rows; ++row)
    for (std::int64_t c = 0; c < C; ++c) {
      double s = 0;
      for (std::int64_t j = std::max<std::int64_t>(0, c - r); j <= std::min(C - 1, c + r); ++j)
        s += v[static_cast<std::size_t>(row * C + j)] * v[static_cast<std::size_t>(row * C + j)];
      out[static_cast<std::size_t>(row * C + c)] = v[static_cast<std::size_t>(row * C + c)] * std::pow(bias + alpha * s, -beta);
    }
  return out;
}

/// Runs f with one kernel thread, restoring the previous count.
template <class F>
auto with_one_thread(F f) {
  const int before = get_num_threads();
  set_num_threads(1);
  auto result = f();
  set_num_threads(before);
  return result;
}

/// Output and input gradients (for a fixed upstream gradient) of f at x.
struct ValueAndGrads {
  Tensor y;
  std::vector<Tensor> grads;
};
ValueAndGrads value_and_grads(const std::function<Tensor(std::span<const Tensor>)>& f, std::vector<Tensor> in) {
  Tensor y = f(in);
  Generator gen(5);
  Tensor w = random_uniform(y.shape(), -1, 1, y.dtype(), &gen);
  return {y.detach(), autograd::grad(std::span<const Tensor>(&y, 1), in, {.grad_outputs = {w}})};
}

void check_all_close(const Tensor& a, const Tensor& b, double atol, double rtol = 0) {
  BOOST_REQUIRE(a.shape() == b.shape());
  tft::check_close(a, b.to_vector<double>(), atol, rtol);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(norm_ops)

// --------------------------------------------------------------------------------------------- LRN

BOOST_AUTO_TEST_CASE(lrn_values) {
  // Row [1,2,3] with the default window (radius 5 > C): sqr_sum = 14 for all, 1/sqrt(15) = 0.2582.
  Tensor x = reshape(tensor({1, 2, 3, -1, 0.5, 2}, float64), {1, 1, 2, 3});
  tft::check_close(nn::local_response_normalization(x),
                   {0.2581988897471611, 0.5163977794943222, 0.7745966692414834, -0.4, 0.2, 0.8}, 1e-12, 1e-12);
  tft::check_close(nn::lrn(x, 1),
                   {0.4082482904638631, 0.5163977794943222, 0.8017837257372732, -0.6666666666666666, 0.2,
                    0.8728715609439696},
                   1e-12, 1e-12);
  Tensor x2 = reshape(tensor({0.5, -1.5, 2.0, 1.0, 3.0, -0.25, 0.75, -2.0}, float64), {1, 2, 1, 4});
  tft::check_close(nn::lrn(x2, 1, 2.0, 0.1, 0.75),
                   {0.2721655269759087, -0.7221989515457164, 0.942985719148489, 0.5029733718731741,
                    1.3477878191413497, -0.11071239337069565, 0.3815303439075263, -1.019355263755912},
                   1e-12, 1e-12);
  // Radius 0: x / (1 + 2 x^2).
  tft::check_close(nn::lrn(x2, 0, 1.0, 2.0, 1.0),
                   {0.3333333333333333, -0.2727272727272727, 0.2222222222222222, 0.3333333333333333,
                    0.15789473684210525, -0.2222222222222222, 0.35294117647058826, -0.2222222222222222},
                   1e-12, 1e-12);
  // float32 keeps its dtype and agrees.
  Tensor y32 = nn::lrn(cast(x2, float32), 1, 2.0, 0.1, 0.75);
  BOOST_TEST(y32.dtype() == float32);
  BOOST_TEST(y32.shape() == Shape({1, 2, 1, 4}));
  tft::check_close(y32, nn::lrn(x2, 1, 2.0, 0.1, 0.75).to_vector<double>(), 1e-6, 1e-6);
}

BOOST_AUTO_TEST_CASE(lrn_gradcheck) {
  struct Case {
    Shape shape;
    std::int64_t radius;
    double bias, alpha, beta;
  };
  for (const Case& c : std::vector<Case>{{Shape{1, 1, 1, 1}, 5, 1.0, 1.0, 0.5},
                                         {Shape{1, 1, 1, 3}, 5, 1.0, 1.0, 0.5},
                                         {Shape{2, 2, 3, 5}, 1, 1.0, 1.0, 0.5},
                                         {Shape{2, 2, 3, 5}, 2, 2.0, 0.1, 0.75},
                                         {Shape{1, 2, 2, 7}, 0, 1.5, 0.5, 1.0},
                                         {Shape{1, 2, 2, 7}, 10, 1.0, 0.3, 0.6},
                                         {Shape{2, 1, 1, 6}, 3, 0.5, 2.0, 0.25}}) {
    tft::check_grad([&](std::span<const Tensor> in) { return nn::lrn(in[0], c.radius, c.bias, c.alpha, c.beta); },
                    {tft::rand64(c.shape, -1.5, 1.5)});
  }
}

BOOST_AUTO_TEST_CASE(lrn_large_matches_reference_and_one_thread) {
  // 8*12*12*32 elements: the parallel path; radius 2 as in AlexNet-style nets.
  Generator gen(3);
  Tensor x = random_normal({8, 12, 12, 32}, 0, 1, float64, &gen);
  x.requires_grad_();
  auto f = [](std::span<const Tensor> in) { return nn::lrn(in[0], 2, 1.0, 1e-1, 0.75); };
  ValueAndGrads par = value_and_grads(f, {x});
  tft::check_close(par.y, naive_lrn(x, 2, 1.0, 1e-1, 0.75), 1e-12, 1e-12);
  ValueAndGrads one = with_one_thread([&] { return value_and_grads(f, {x}); });
  check_all_close(par.y, one.y, 0);
  check_all_close(par.grads[0], one.grads[0], 0);
  // float32 agrees with float64.
  tft::check_close(nn::lrn(cast(x.detach(), float32), 2, 1.0, 1e-1, 0.75), par.y.to_vector<double>(), 1e-5, 1e-4);
}

BOOST_AUTO_TEST_CASE(lrn_errors) {
  TF_CHECK_THROWS_WITH(nn::lrn(ones({2, 3})), ShapeError, "local_response_normalization", "4-D", "[2,3]", "NHWC");
  TF_CHECK_THROWS_WITH(nn::local_response_normalization(ones({1, 2, 3, 4, 5})), ShapeError, "4-D", "[1,2,3,4,5]");
  TF_CHECK_THROWS_WITH(nn::lrn(ones({1, 2, 2, 3}), -1), ValueError, "depth_radius", "-1");
  TF_CHECK_THROWS_WITH(nn::lrn(ones({1, 2, 2, 3}, int32)), DTypeError, "local_response_normalization", "int32");
  TF_CHECK_THROWS_WITH(nn::lrn(Tensor()), ValueError, "local_response_normalization", "undefined");
}

// ---------------------------------------------------------------------------- moments

BOOST_AUTO_TEST_CASE(moments_values) {
  Tensor x = tensor({{1, 2}, {3, 5}}, float64);
  nn::Moments m = nn::moments(x, {0});
  BOOST_TEST(m.mean.shape() == Shape({2}));
  tft::check_close(m.mean, {2, 3.5});
  tft::check_close(m.variance, {1, 2.25});  // biased: divided by 2, not 1
  nn::Moments all = nn::moments(x);
  BOOST_TEST(all.mean.shape() == Shape({}));
  tft::check_close(all.mean, {2.75});
  tft::check_close(all.variance, {2.1875});
  nn::Moments kept = nn::moments(x, {-1}, true);
  BOOST_TEST(kept.variance.shape() == Shape({2, 1}));
  tft::check_close(kept.mean, {1.5, 4});
  tft::check_close(kept.variance, {0.25, 1});
  for (const std::vector<int>& axes : std::vector<std::vector<int>>{{}, {0}, {0, 1, 2}, {2}, {-1, 0}}) {
    tft::check_grad([&](std::span<const Tensor> in) { return nn::moments(in[0], axes).mean; },
                    {tft::rand64({2, 3, 4})});
    tft::check_grad([&](std::span<const Tensor> in) { return nn::moments(in[0], axes).variance; },
                    {tft::rand64({2, 3, 4})});
  }
  TF_CHECK_THROWS_WITH(nn::moments(x, {2}), ValueError, "axis 2");
}

// ---------------------------------------------------------------------------- batch_normalization

BOOST_AUTO_TEST_CASE(batch_normalization_values) {
  Tensor x = tensor({{1, 2, 3}, {4, -5, 6}}, float64);
  Tensor mean = tensor({0.5, -1, 2}, float64), var = tensor({1, 4, 0.25}, float64);
  Tensor offset = tensor({0.1, 0.2, -0.3}, float64), scale = tensor({2, 0.5, -1}, float64);
  tft::check_close(nn::batch_normalization(x, mean, var, offset, scale, 1e-3),
                   {1.0995003746877732, 0.9499062675744636, -2.296011960139498, 7.096502622814412,
                    -0.7998750234326182, -8.284047840557992},
                   1e-12, 1e-12);
  tft::check_close(nn::batch_normalization(x, mean, var, Tensor(), Tensor(), 1e-3),
                   {0.4997501873438866, 1.4998125351489273, 1.996011960139498, 3.498251311407206,
                    -1.9997500468652363, 7.984047840557992},
                   1e-12, 1e-12);
  // Only an offset, only a scale.
  tft::check_close(nn::batch_normalization(scalar(3.0, float64), scalar(1.0, float64), scalar(3.0, float64),
                                           scalar(0.5, float64), Tensor(), 1.0),
                   {1.5});
  tft::check_close(nn::batch_normalization(scalar(3.0, float64), scalar(1.0, float64), scalar(3.0, float64), Tensor(),
                                           scalar(-2.0, float64), 1.0),
                   {-2.0});
  Tensor y32 = nn::batch_normalization(ones({2, 3}), zeros({3}), ones({3}), Tensor(), Tensor(), 0.0);
  BOOST_TEST(y32.dtype() == float32);
  tft::check_close(y32, std::vector<double>(6, 1.0));
}

BOOST_AUTO_TEST_CASE(batch_normalization_gradcheck) {
  struct Case {
    Shape x, stats;
  };
  auto bn = [](std::span<const Tensor> in) { return nn::batch_normalization(in[0], in[1], in[2], in[3], in[4], 1e-3); };
  for (const Case& c : std::vector<Case>{{Shape{}, Shape{}},
                                         {Shape{1, 1}, Shape{1, 1}},
                                         {Shape{4}, Shape{}},
                                         {Shape{2, 3}, Shape{3}},
                                         {Shape{2, 3}, Shape{2, 1}},
                                         {Shape{2, 3, 4}, Shape{4}},
                                         {Shape{2, 2, 2, 3}, Shape{1, 1, 1, 3}},
                                         {Shape{3}, Shape{2, 3}}}) {  // the stats broadcast x up
    tft::check_grad(bn, {tft::rand64(c.x), tft::rand64(c.stats, -1, 1, 1), positive64(c.stats),
                         tft::rand64(c.stats, -1, 1, 2), tft::rand64(c.stats, -1, 1, 3)});
  }
  // Absent offset and scale.
  tft::check_grad([](std::span<const Tensor> in) { return nn::batch_normalization(in[0], in[1], in[2], Tensor(), Tensor(), 0.01); },
                  {tft::rand64({3, 4}), tft::rand64({4}, -1, 1, 1), positive64({4})});
  Shape out = nn::batch_normalization(ones({3}), ones({2, 3}), ones({3}), Tensor(), Tensor(), 0.1).shape();
  BOOST_TEST(out == Shape({2, 3}));
}

BOOST_AUTO_TEST_CASE(batch_normalization_errors) {
  Tensor x = ones({2, 3});
  TF_CHECK_THROWS_WITH(nn::batch_normalization(x, ones({4}), ones({3}), Tensor(), Tensor(), 1e-3), ShapeError,
                       "batch_normalization", "mean [4]", "x [2,3]");
  TF_CHECK_THROWS_WITH(nn::batch_normalization(x, ones({3}), ones({3}), Tensor(), ones({2}), 1e-3), ShapeError,
                       "scale [2]", "[2,3]");
  TF_CHECK_THROWS_WITH(nn::batch_normalization(x, ones({3}, float64), ones({3}), Tensor(), Tensor(), 1e-3),
                       DTypeError, "batch_normalization", "mean", "float64", "float32");
  TF_CHECK_THROWS_WITH(nn::batch_normalization(x, Tensor(), ones({3}), Tensor(), Tensor(), 1e-3), ValueError,
                       "batch_normalization", "mean");
  TF_CHECK_THROWS_WITH(nn::batch_normalization(ones({2, 3}, int32), ones({3}, int32), ones({3}, int32), Tensor(),
                                               Tensor(), 1e-3),
                       DTypeError, "batch_normalization", "int32");
}

// ---------------------------------------------------------------------------- batch_norm

BOOST_AUTO_TEST_CASE(batch_norm_training_values_and_moving_statistics) {
  Tensor xa = reshape(tensor({1, 2, 3, 4, 5, -6, 0.5, 1.5, 9, -2, 0, 3}, float64), {2, 1, 2, 3});
  Tensor xb = reshape(tensor({2, -1, 0, 1, 1, 1, 3, 0.5, -4, 5, 2, 2}, float64), {2, 1, 2, 3});
  Tensor gamma = tensor({1.5, 0.5, 2.0}, float64), beta = tensor({0.0, 1.0, -1.0}, float64);
  Tensor mm = zeros({3}, float64), mv = ones({3}, float64);
  Tensor mm_handle = mm;  // the update is in place: every handle sees it

  Tensor y0 = nn::batch_norm(xa, gamma, beta, mm, mv, true, 0.9, 1e-3);
  tft::check_close(y0,
                   {0.08792188940915482, 0.9655837995817382, -0.7199488642174097, 2.1980472352288705,
                    1.7915726096200197, -4.080562493608493, -0.26376566822746444, 0.8279189979086914,
                    1.520460222043313, -2.0222034564105607, 0.41492459288955064, -0.7199488642174097},
                   1e-12, 1e-12);
  tft::check_close(mm, {0.08749999999999998, 0.21249999999999997, 0.22499999999999995}, 1e-14, 1e-12);
  tft::check_close(mv, {1.3546874999999998, 1.2296874999999998, 3.7687499999999994}, 1e-14, 1e-12);

  Tensor y1 = nn::batch_norm(xb, gamma, beta, mm, mv, true, 0.9, 1e-3);
  tft::check_close(y1,
                   {-0.7604650285383829, 0.24976468219678416, -0.7804926363373436, -1.7744183999228935,
                    1.1731312271853576, 0.09753681831328231, 0.25348834284612765, 0.9422895909382142,
                    -4.292610454939847, 2.2813950856151486, 1.6348144996796443, 0.9755662729639081},
                   1e-12, 1e-12);
  tft::check_close(mm_handle, {0.3537499999999999, 0.25375, 0.17749999999999996}, 1e-14, 1e-12);
  tft::check_close(mv, {1.4379687499999998, 1.22390625, 3.910624999999999}, 1e-14, 1e-12);
  BOOST_TEST(!mm.requires_grad());
  BOOST_TEST(mm.is_leaf());

  // Inference: the moving statistics, which stay unchanged.
  Tensor xi = reshape(tensor({1, 0, -1, 2, 2, 2}, float64), {1, 1, 2, 3});
  Tensor yi = nn::batch_norm(xi, gamma, beta, mm, mv, false, 0.9, 1e-3);
  tft::check_close(yi,
                   {0.8081019112327614, 0.8853630481169086, -2.1907272835984175, 2.0585497429275565,
                    1.7889055260131954, 0.8429728020026461},
                   1e-12, 1e-12);
  tft::check_close(mm, {0.3537499999999999, 0.25375, 0.17749999999999996}, 1e-14, 1e-12);
  tft::check_close(mv, {1.4379687499999998, 1.22390625, 3.910624999999999}, 1e-14, 1e-12);
}

BOOST_AUTO_TEST_CASE(batch_norm_defaults_and_recording) {
  // decay 0.999, epsilon 0.001; gamma and beta absent; the update is not recorded even when x
  // requires grad.
  Tensor x = tft::rand64({4, 2});
  Tensor mm = zeros({2}, float64), mv = ones({2}, float64);
  Tensor y = nn::batch_norm(x, Tensor(), Tensor(), mm, mv, true);
  BOOST_TEST(y.requires_grad());
  BOOST_TEST(!mm.requires_grad());
  BOOST_TEST(!mv.requires_grad());
  nn::Moments m = nn::moments(x.detach(), {0});
  tft::check_close(mm, (m.mean * 0.001).to_vector<double>(), 1e-15, 1e-12);
  tft::check_close(mv, (m.variance * 0.001 + 0.999).to_vector<double>(), 1e-15, 1e-12);
  tft::check_close(y, ((x.detach() - m.mean) / sqrt(m.variance + 0.001)).to_vector<double>(), 1e-12, 1e-10);
  // Under NoGradGuard the output is not recorded either, and the statistics still update.
  {
    NoGradGuard no_grad;
    Tensor y2 = nn::batch_norm(x, Tensor(), Tensor(), mm, mv, true);
    BOOST_TEST(!y2.requires_grad());
  }
  tft::check_close(mm, (m.mean * (0.001 * 0.999 + 0.001)).to_vector<double>(), 1e-15, 1e-10);
}

BOOST_AUTO_TEST_CASE(batch_norm_training_gradcheck) {
  struct Case {
    Shape x;
    bool with_gamma, with_beta;
  };
  for (const Case& c : std::vector<Case>{{Shape{1, 1}, true, true},
                                         {Shape{2, 3}, true, true},
                                         {Shape{4, 1}, true, true},
                                         {Shape{5, 2}, false, true},
                                         {Shape{2, 2, 2, 3}, true, false},
                                         {Shape{1, 3, 3, 2}, true, true},
                                         {Shape{3, 2, 4}, false, false}}) {
    const std::int64_t C = c.x.dim(-1);
    Tensor mm = zeros({C}, float64), mv = ones({C}, float64);
    std::vector<Tensor> in{tft::rand64(c.x, -2, 2)};
    if (c.with_gamma) in.push_back(tft::rand64({C}, 0.5, 1.5, 1));
    if (c.with_beta) in.push_back(tft::rand64({C}, -1, 1, 2));
    tft::check_grad(
        [&](std::span<const Tensor> t) {
          Tensor gamma = c.with_gamma ? t[1] : Tensor();
          Tensor beta = c.with_beta ? t[c.with_gamma ? 2 : 1] : Tensor();
          return nn::batch_norm(t[0], gamma, beta, mm, mv, true, 0.9, 1e-3);
        },
        in);
  }
}

BOOST_AUTO_TEST_CASE(batch_norm_inference_gradcheck) {
  for (const Shape& s : std::vector<Shape>{Shape{1, 1}, Shape{3, 2}, Shape{2, 2, 2, 3}}) {
    const std::int64_t C = s.dim(-1);
    Tensor mm = tft::rand64({C}).detach(), mv = positive64({C}).detach();
    tft::check_grad(
        [&](std::span<const Tensor> t) { return nn::batch_norm(t[0], t[1], t[2], mm, mv, false); },
        {tft::rand64(s), tft::rand64({C}, 0.5, 1.5, 1), tft::rand64({C}, -1, 1, 2)});
  }
}

BOOST_AUTO_TEST_CASE(batch_norm_fused_matches_composed) {
  // Small (serial) and large (parallel partial sums) inputs; the fused kernel against
  // batch_normalization(moments(...)) in values and in the gradients of x, gamma and beta.
  for (const Shape& s : std::vector<Shape>{Shape{4, 3, 3, 5}, Shape{64, 8, 8, 16}}) {
    const std::int64_t C = s.dim(-1);
    Generator gen(9);
    Tensor x = random_normal(s, 3.0, 2.0, float64, &gen);  // far from zero mean: the two-pass variance
    x.requires_grad_();
    Tensor gamma = tft::rand64({C}, 0.5, 1.5, 1), beta = tft::rand64({C}, -1, 1, 2);
    Tensor mm = zeros({C}, float64), mv = ones({C}, float64);
    auto fused = [&](std::span<const Tensor> t) { return nn::batch_norm(t[0], t[1], t[2], mm, mv, true, 0.9, 1e-3); };
    auto composed = [](std::span<const Tensor> t) {
      nn::Moments m = nn::moments(t[0], {0, 1, 2});
      return nn::batch_normalization(t[0], m.mean, m.variance, t[2], t[1], 1e-3);
    };
    ValueAndGrads a = value_and_grads(fused, {x, gamma, beta});
    const std::vector<double> mv_after_one_step = mv.to_vector<double>();
    ValueAndGrads b = value_and_grads(composed, {x, gamma, beta});
    check_all_close(a.y, b.y, 1e-10);
    for (std::size_t i = 0; i < 3; ++i) check_all_close(a.grads[i], b.grads[i], 1e-9, 1e-9);
    // One thread gives the same up to the order of the partial sums.
    ValueAndGrads one = with_one_thread([&] { return value_and_grads(fused, {x, gamma, beta}); });
    check_all_close(a.y, one.y, 1e-12);
    for (std::size_t i = 0; i < 3; ++i) check_all_close(a.grads[i], one.grads[i], 1e-9, 1e-12);
    // float32 agrees with float64.
    Tensor mm32 = zeros({C}), mv32 = ones({C});
    Tensor y32 = nn::batch_norm(cast(x.detach(), float32), cast(gamma.detach(), float32),
                                cast(beta.detach(), float32), mm32, mv32, true, 0.9, 1e-3);
    tft::check_close(y32, a.y.to_vector<double>(), 1e-4, 1e-4);
    tft::check_close(mv32, mv_after_one_step, 1e-5, 1e-5);
  }
}

BOOST_AUTO_TEST_CASE(batch_norm_errors) {
  Tensor x = ones({2, 5, 5, 3});
  Tensor c3 = ones({3}), mm = zeros({3}), mv = ones({3});
  TF_CHECK_THROWS_WITH(nn::batch_norm(x, ones({4}), c3, mm, mv, true), ShapeError, "batch_norm", "scale (gamma)",
                       "[4]", "[2,5,5,3]", "3 channels");
  TF_CHECK_THROWS_WITH(nn::batch_norm(x, c3, ones({1, 3}), mm, mv, true), ShapeError, "offset (beta)", "[1,3]",
                       "[2,5,5,3]");
  TF_CHECK_THROWS_WITH(nn::batch_norm(x, c3, c3, zeros({2}), mv, false), ShapeError, "moving_mean", "[2]",
                       "[2,5,5,3]", "must be [3]");
  TF_CHECK_THROWS_WITH(nn::batch_norm(x, c3, c3, mm, ones({5}), true), ShapeError, "moving_variance", "[5]",
                       "[2,5,5,3]");
  TF_CHECK_THROWS_WITH(nn::batch_norm(x, c3, c3, zeros({3}, float64), mv, true), DTypeError, "batch_norm",
                       "moving_mean", "float64", "float32");
  TF_CHECK_THROWS_WITH(nn::batch_norm(x, c3, c3, Tensor(), mv, true), ValueError, "moving_mean", "zeros({3})");
  TF_CHECK_THROWS_WITH(nn::batch_norm(ones({3}), c3, c3, mm, mv, true), ShapeError, "batch_norm", "rank >= 2", "[3]");
  TF_CHECK_THROWS_WITH(nn::batch_norm(x, c3, c3, mm, mv, true, 1.5), ValueError, "decay", "1.5");
  TF_CHECK_THROWS_WITH(nn::batch_norm(x, c3, c3, mm, mv, true, 0.9, -1), ValueError, "epsilon", "-1");
  TF_CHECK_THROWS_WITH(nn::batch_norm(ones({0, 3}), c3, c3, mm, mv, true), ValueError, "batch_norm", "[0,3]", "empty");
  // A failed call leaves the moving statistics alone.
  tft::check_close(mm, {0, 0, 0});
  tft::check_close(mv, {1, 1, 1});
}

BOOST_AUTO_TEST_SUITE_END()
