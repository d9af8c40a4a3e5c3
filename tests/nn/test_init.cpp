#include "helpers.h"

#include <algorithm>
#include <cmath>

#include "tapeflow/nn.h"

using namespace tapeflow;

namespace {

constexpr double kTrunc = 0.87962566103423978;  // std of a unit normal truncated to [-2, 2]

struct Stats {
  double mean = 0, std = 0, min = 0, max = 0;
  double frac_beyond = 0;  // fraction with |x - mean_ref| > bound, filled by stats_of
};

Stats stats_of(const Tensor& t, double center = 0.0, double bound = 0.0) {
  std::vector<double> v = t.to_vector<double>();
  Stats s;
  s.min = *std::min_element(v.begin(), v.end());
  s.max = *std::max_element(v.begin(), v.end());
  for (double x : v) s.mean += x;
  s.mean /= static_cast<double>(v.size());
  std::size_t beyond = 0;
  for (double x : v) {
    s.std += (x - s.mean) * (x - s.mean);
    if (bound > 0 && std::abs(x - center) > bound) ++beyond;
  }
  s.std = std::sqrt(s.std / static_cast<double>(v.size()));
  s.frac_beyond = static_cast<double>(beyond) / static_cast<double>(v.size());
  return s;
}

// A uniform on (-limit, limit): bounds respected and nearly reached, mean 0, std limit/sqrt(3).
void check_uniform(const Tensor& t, double limit) {
  Stats s = stats_of(t);
  BOOST_TEST(s.min >= -limit);
  BOOST_TEST(s.max <= limit);
  BOOST_TEST(s.min < -0.99 * limit);
  BOOST_TEST(s.max > 0.99 * limit);
  BOOST_TEST(std::abs(s.mean) < 0.02 * limit);
  BOOST_TEST(s.std == limit / std::sqrt(3.0), boost::test_tools::tolerance(0.02));
}

// A normal with parameter `stddev` truncated at two of them: bounds, mean 0, std 0.8796 stddev.
void check_truncated(const Tensor& t, double stddev, double mean = 0.0) {
  Stats s = stats_of(t);
  BOOST_TEST(s.min >= mean - 2 * stddev);
  BOOST_TEST(s.max <= mean + 2 * stddev);
  BOOST_TEST(s.max > mean + 1.9 * stddev);
  BOOST_TEST(std::abs(s.mean - mean) < 0.02 * stddev);
  BOOST_TEST(s.std == kTrunc * stddev, boost::test_tools::tolerance(0.02));
}

// A plain normal: mean, std, and about 4.55% of the values beyond two standard deviations.
void check_normal(const Tensor& t, double stddev, double mean = 0.0) {
  Stats s = stats_of(t, mean, 2 * stddev);
  BOOST_TEST(std::abs(s.mean - mean) < 0.02 * stddev);
  BOOST_TEST(s.std == stddev, boost::test_tools::tolerance(0.02));
  BOOST_TEST(s.frac_beyond == 0.0455, boost::test_tools::tolerance(0.1));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(init)

BOOST_AUTO_TEST_CASE(fans_follow_tensorflow) {
  auto fans = [](const Shape& s) {
    auto f = nn::init::compute_fans(s);
    return std::pair{f.fan_in, f.fan_out};
  };
  BOOST_TEST((fans({}) == std::pair<std::int64_t, std::int64_t>{1, 1}));
  BOOST_TEST((fans({7}) == std::pair<std::int64_t, std::int64_t>{7, 7}));
  BOOST_TEST((fans({784, 128}) == std::pair<std::int64_t, std::int64_t>{784, 128}));
  // conv kernel [h, w, in, out]: the receptive field h*w multiplies both.
  BOOST_TEST((fans({5, 5, 32, 64}) == std::pair<std::int64_t, std::int64_t>{800, 1600}));
  BOOST_TEST((fans({3, 16, 8}) == std::pair<std::int64_t, std::int64_t>{48, 24}));
  BOOST_TEST((fans({0, 10}) == std::pair<std::int64_t, std::int64_t>{0, 10}));
  TF_CHECK_THROWS_WITH(nn::init::compute_fans(Shape({-1, 10})), ShapeError, "compute_fans", "[?,10]");
}

BOOST_AUTO_TEST_CASE(constant_initializers) {
  Tensor z = zeros({2, 3});
  BOOST_TEST(z.shape() == Shape({2, 3}));
  BOOST_TEST(z.dtype() == float32);
  BOOST_TEST(!z.requires_grad());
  tft::check_close(z, {0, 0, 0, 0, 0, 0});
  Tensor o = ones({2}, float64);
  BOOST_TEST(o.dtype() == float64);
  tft::check_close(o, {1, 1});
  tft::check_close(full({3}, -2.5), {-2.5, -2.5, -2.5});
  Tensor c = full({2}, 7, int32);
  BOOST_TEST(c.dtype() == int32);
  tft::check_close(c, {7, 7});
  tft::check_close(full({}, 4.0), {4.0});
}

BOOST_AUTO_TEST_CASE(random_normal_statistics) {
  Generator gen(1);
  Tensor t = random_normal({400, 500}, 1.0, 2.0, float32, &gen);
  BOOST_TEST(t.shape() == Shape({400, 500}));
  check_normal(t, 2.0, 1.0);
  // TensorFlow's defaults: mean 0, stddev 1.
  check_normal(random_normal({200000}, 0.0, 1.0, float64, &gen), 1.0);
  check_normal(random_normal({200000}), 1.0);
}

BOOST_AUTO_TEST_CASE(random_uniform_statistics) {
  Generator gen(2);
  Tensor t = random_uniform({200000}, -1.0, 3.0, float64, &gen);
  Stats s = stats_of(t);
  BOOST_TEST(s.min >= -1.0);
  BOOST_TEST(s.max < 3.0);
  BOOST_TEST(s.min < -0.99);
  BOOST_TEST(s.max > 2.99);
  BOOST_TEST(s.mean == 1.0, boost::test_tools::tolerance(0.01));
  BOOST_TEST(s.std == 4.0 / std::sqrt(12.0), boost::test_tools::tolerance(0.02));
  // Defaults: [0, 1).
  Stats d = stats_of(random_uniform({100000}, 0.0, 1.0, float32, &gen));
  BOOST_TEST(d.min >= 0.0);
  BOOST_TEST(d.max < 1.0);
  BOOST_TEST(d.mean == 0.5, boost::test_tools::tolerance(0.01));
}

BOOST_AUTO_TEST_CASE(truncated_normal_statistics) {
  Generator gen(3);
  check_truncated(truncated_normal({200000}, 0.5, 2.0, float64, &gen), 2.0, 0.5);
  check_truncated(truncated_normal({500, 400}, 0.0, 1.0, float32, &gen), 1.0);
}

BOOST_AUTO_TEST_CASE(glorot_and_xavier) {
  Generator gen(4);
  // [300, 500]: fan_in + fan_out = 800.
  check_uniform(nn::init::glorot_uniform({300, 500}, float32, &gen), std::sqrt(6.0 / 800.0));
  check_truncated(nn::init::glorot_normal({300, 500}, float32, &gen), std::sqrt(2.0 / 800.0) / kTrunc);
  // The drawn values have std sqrt(2 / (fan_in + fan_out)).
  Stats s = stats_of(nn::init::glorot_normal({300, 500}, float64, &gen));
  BOOST_TEST(s.std == std::sqrt(2.0 / 800.0), boost::test_tools::tolerance(0.02));
  // A conv kernel [5,5,16,32]: fans 400 and 800.
  check_uniform(nn::init::glorot_uniform({5, 5, 16, 32}, float32, &gen), std::sqrt(6.0 / 1200.0));
  // xavier_* are the same functions.
  Generator a(9), b(9);
  BOOST_TEST(nn::init::xavier_uniform({4, 5}, float32, &a).to_vector<float>() ==
                 nn::init::glorot_uniform({4, 5}, float32, &b).to_vector<float>(),
             boost::test_tools::per_element());
  BOOST_TEST(nn::init::xavier_normal({4, 5}, float32, &a).to_vector<float>() ==
                 nn::init::glorot_normal({4, 5}, float32, &b).to_vector<float>(),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(he_and_lecun) {
  Generator gen(5);
  // [5,5,64,64]: fan_in = 1600.
  const Shape kernel{5, 5, 64, 64};
  check_truncated(nn::init::he_normal(kernel, float32, &gen), std::sqrt(2.0 / 1600.0) / kTrunc);
  check_uniform(nn::init::he_uniform(kernel, float32, &gen), std::sqrt(6.0 / 1600.0));
  check_truncated(nn::init::lecun_normal(kernel, float32, &gen), std::sqrt(1.0 / 1600.0) / kTrunc);
  check_uniform(nn::init::lecun_uniform(kernel, float32, &gen), std::sqrt(3.0 / 1600.0));
  // Dense [1000, 100]: fan_in = 1000.
  check_truncated(nn::init::he_normal({1000, 100}, float64, &gen), std::sqrt(2.0 / 1000.0) / kTrunc);
}

BOOST_AUTO_TEST_CASE(variance_scaling_modes_and_distributions) {
  using nn::init::Distribution;
  using nn::init::FanMode;
  Generator gen(6);
  const Shape s{200, 800};  // fan_in 200, fan_out 800, fan_avg 500
  // Defaults (TF 1.x): scale 1, fan_in, truncated normal.
  check_truncated(nn::init::variance_scaling(s, {}, float32, &gen), std::sqrt(1.0 / 200.0) / kTrunc);
  check_truncated(nn::init::variance_scaling(s, {3.0, FanMode::FanOut, Distribution::TruncatedNormal}, float32,
                                             &gen),
                  std::sqrt(3.0 / 800.0) / kTrunc);
  check_normal(nn::init::variance_scaling(s, {2.0, FanMode::FanAvg, Distribution::UntruncatedNormal}, float32,
                                          &gen),
               std::sqrt(2.0 / 500.0));
  check_uniform(nn::init::variance_scaling(s, {0.5, FanMode::FanIn, Distribution::Uniform}, float32, &gen),
                std::sqrt(3.0 * 0.5 / 200.0));
  // String arguments, any case; "normal" is truncated_normal in TF 1.x.
  Generator a(7), b(7);
  BOOST_TEST(nn::init::variance_scaling({30, 40}, 2.0, "FAN_AVG", "uniform", float32, &a).to_vector<float>() ==
                 nn::init::variance_scaling({30, 40}, {2.0, FanMode::FanAvg, Distribution::Uniform}, float32, &b)
                     .to_vector<float>(),
             boost::test_tools::per_element());
  BOOST_TEST((nn::init::parse_distribution("normal") == Distribution::TruncatedNormal));
  BOOST_TEST((nn::init::parse_distribution("untruncated_normal") == Distribution::UntruncatedNormal));
  BOOST_TEST((nn::init::parse_fan_mode("fan_out") == FanMode::FanOut));
  // An empty fan counts as 1 (TensorFlow's max(1, n)), so empty tensors initialise.
  BOOST_TEST(nn::init::variance_scaling({0, 10}).numel() == 0);
  // A scalar: fans 1.
  BOOST_TEST(std::abs(nn::init::he_uniform({}, float64, &gen).item()) <= std::sqrt(6.0));
}

BOOST_AUTO_TEST_CASE(contrib_variance_scaling) {
  using nn::init::FanMode;
  Generator gen(8);
  // Defaults factor 2, FAN_IN, truncated normal with stddev sqrt(1.3 * 2 / fan_in).
  check_truncated(nn::init::contrib_variance_scaling({400, 300}, {}, float32, &gen), std::sqrt(2.6 / 400.0));
  check_uniform(nn::init::contrib_variance_scaling({400, 300}, {.factor = 1.0, .mode = FanMode::FanAvg,
                                                                .uniform = true},
                                                   float32, &gen),
                std::sqrt(3.0 / 350.0));
  check_truncated(nn::init::contrib_variance_scaling({400, 300}, {.factor = 2.0, .mode = FanMode::FanOut}, float64,
                                                     &gen),
                  std::sqrt(2.6 / 300.0));
}

BOOST_AUTO_TEST_CASE(seeded_reproducibility) {
  Generator g1(42), g2(42), g3(43);
  Tensor a = nn::init::glorot_normal({20, 30}, float32, &g1);
  Tensor b = nn::init::glorot_normal({20, 30}, float32, &g2);
  Tensor c = nn::init::glorot_normal({20, 30}, float32, &g3);
  BOOST_TEST(a.to_vector<float>() == b.to_vector<float>(), boost::test_tools::per_element());
  BOOST_TEST(a.to_vector<float>() != c.to_vector<float>());
  // A generator advances: the next draw differs from the first.
  BOOST_TEST(nn::init::glorot_normal({20, 30}, float32, &g1).to_vector<float>() != a.to_vector<float>());
  // The default generator, reseeded with manual_seed.
  manual_seed(123);
  Tensor d = nn::init::he_uniform({10, 10});
  Tensor e = random_normal({5});
  manual_seed(123);
  BOOST_TEST(nn::init::he_uniform({10, 10}).to_vector<float>() == d.to_vector<float>(),
             boost::test_tools::per_element());
  BOOST_TEST(random_normal({5}).to_vector<float>() == e.to_vector<float>(),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(in_place_variants) {
  Tensor t = zeros({300, 500}, float64);
  Tensor alias = t;
  Generator g1(10), g2(10);
  nn::init::glorot_uniform_(t, &g1);
  BOOST_TEST(t.shape() == Shape({300, 500}));
  BOOST_TEST(t.dtype() == float64);
  // Same values as the returning form, seen through every handle.
  BOOST_TEST(alias.to_vector<double>() == nn::init::glorot_uniform({300, 500}, float64, &g2).to_vector<double>(),
             boost::test_tools::per_element());
  nn::init::ones_(t);
  tft::check_close(full({2}, 1.0), {1, 1});
  BOOST_TEST(stats_of(alias).min == 1.0);
  nn::init::constant_(t, 3.0);
  BOOST_TEST(stats_of(alias).max == 3.0);
  nn::init::zeros_(t);
  BOOST_TEST(stats_of(alias).max == 0.0);
  nn::init::random_normal_(t, 0.0, 1.0, &g1);
  check_normal(t, 1.0);
  nn::init::random_uniform_(t, -2.0, 2.0, &g1);
  check_uniform(t, 2.0);
  nn::init::truncated_normal_(t, 0.0, 0.1, &g1);
  check_truncated(t, 0.1);
  nn::init::glorot_normal_(t, &g1);
  check_truncated(t, std::sqrt(2.0 / 800.0) / kTrunc);
  nn::init::xavier_uniform_(t, &g1);
  check_uniform(t, std::sqrt(6.0 / 800.0));
  nn::init::xavier_normal_(t, &g1);
  check_truncated(t, std::sqrt(2.0 / 800.0) / kTrunc);
  nn::init::he_normal_(t, &g1);
  check_truncated(t, std::sqrt(2.0 / 300.0) / kTrunc);
  nn::init::he_uniform_(t, &g1);
  check_uniform(t, std::sqrt(6.0 / 300.0));
  nn::init::lecun_normal_(t, &g1);
  check_truncated(t, std::sqrt(1.0 / 300.0) / kTrunc);
  nn::init::lecun_uniform_(t, &g1);
  check_uniform(t, std::sqrt(3.0 / 300.0));
  nn::init::variance_scaling_(t, {.scale = 2.0, .mode = nn::init::FanMode::FanOut,
                                  .distribution = nn::init::Distribution::Uniform}, &g1);
  check_uniform(t, std::sqrt(6.0 / 500.0));
  nn::init::contrib_variance_scaling_(t, {}, &g1);
  check_truncated(t, std::sqrt(2.6 / 300.0));

  // Re-initialising a Linear's weight through its handle changes the module.
  nn::Linear lin(300, 500);
  nn::init::he_uniform_(lin.weight(), &g1);
  check_uniform(lin.parameters()[0], std::sqrt(6.0 / 300.0));
  BOOST_TEST(lin.weight().requires_grad());
  TF_CHECK_THROWS_WITH(nn::init::zeros_(Tensor()), ValueError, "zeros_", "undefined");
}

BOOST_AUTO_TEST_CASE(invalid_arguments) {
  using nn::init::Distribution;
  using nn::init::FanMode;
  TF_CHECK_THROWS_WITH(random_normal({2}, 0.0, -1.0), ValueError, "random_normal", "stddev", "-1");
  TF_CHECK_THROWS_WITH(truncated_normal({2}, 0.0, -0.5), ValueError, "truncated_normal", "-0.5");
  TF_CHECK_THROWS_WITH(random_normal({2}, 0.0, std::nan("")), ValueError, "stddev", "nan");
  TF_CHECK_THROWS_WITH(random_uniform({2}, 1.0, 1.0), ValueError, "random_uniform", "minval 1",
                       "maxval 1");
  TF_CHECK_THROWS_WITH(nn::init::variance_scaling({2, 2}, {.scale = 0.0}), ValueError, "variance_scaling",
                       "scale", "positive", "0");
  TF_CHECK_THROWS_WITH(nn::init::variance_scaling({2, 2}, {.scale = -2.0}), ValueError, "-2");
  TF_CHECK_THROWS_WITH(nn::init::contrib_variance_scaling({2, 2}, {.factor = -1.0}), ValueError, "factor", "-1");
  TF_CHECK_THROWS_WITH(nn::init::variance_scaling({2, 2}, 1.0, "fan_middle", "uniform"), ValueError,
                       "unknown fan mode 'fan_middle'", "'fan_in', 'fan_out', 'fan_avg'");
  TF_CHECK_THROWS_WITH(nn::init::variance_scaling({2, 2}, 1.0, "fan_in", "gaussian"), ValueError,
                       "unknown distribution 'gaussian'", "'truncated_normal'", "'uniform'");
  TF_CHECK_THROWS_WITH(nn::init::variance_scaling({2, 2}, {.mode = static_cast<FanMode>(7)}), ValueError,
                       "unknown fan mode 7");
  TF_CHECK_THROWS_WITH(
      nn::init::variance_scaling({2, 2}, {.distribution = static_cast<Distribution>(9)}), ValueError,
      "unknown distribution 9");
  TF_CHECK_THROWS_WITH(nn::init::glorot_uniform({2, 2}, int32), DTypeError, "glorot_uniform", "int32");
  TF_CHECK_THROWS_WITH(random_normal({2}, 0.0, 1.0, int64), DTypeError, "random_normal", "int64");
  TF_CHECK_THROWS_WITH(nn::init::he_normal(Shape({-1, 4})), ShapeError, "[?,4]", "unknown dimension");
  TF_CHECK_THROWS_WITH(zeros(Shape({3, -1})), ShapeError, "zeros", "[3,?]");
}

BOOST_AUTO_TEST_SUITE_END()
