// matmul with broadcast batch dimensions (numpy's matmul) and einsum: values and gradients against
// numpy / torch (the Python that computed them is quoted above each), first and second order
// gradchecks over several shapes, and the error messages.
#include <vector>

#include "helpers.h"
#include "ops/reference.h"

using namespace tapeflow;

namespace {

using tft::pattern;
using tft::swap_last;

}  // namespace

BOOST_AUTO_TEST_SUITE(einsum_ops)

// ---------------------------------------------------------------------------- matmul, broadcast batches

BOOST_AUTO_TEST_CASE(broadcast_matmul_values_and_gradients_against_torch) {
  // a = torch.tensor(pattern(sa), requires_grad=True); b = torch.tensor(pattern(sb, 0.3, -1.2), requires_grad=True)
  // A = a.transpose(-1, -2) if ta else a; B = b.transpose(-1, -2) if tb else b
  // c = torch.matmul(A, B); w = torch.tensor(pattern(tuple(c.shape), 0.5, 0.25))
  // ga, gb = torch.autograd.grad((w * c).sum(), [a, b])
  struct Case {
    Shape sa, sb;
    bool ta, tb;
    Shape sc;
    std::vector<double> c, ga, gb;
  };
  const std::vector<Case> cases = {
      {Shape{2, 3, 4}, Shape{4, 2}, false, false, Shape{2, 3, 2},
       {2.34, 0.3600000000000001, 0.4199999999999997, -1.38, -0.8399999999999999, 0.17999999999999994,
        0.5399999999999999, -0.8999999999999997, -0.72, 0.66, -0.6599999999999999, 0.9000000000000004},
       {3.0750000000000006, 6.675, -2.1, 1.5, 2.6250000000000004, 8.925, -2.1, 4.2, -2.775, 1.275, 1.1999999999999995,
        5.249999999999999, -3.2249999999999996, 3.525, 1.1999999999999993, 7.949999999999999, 2.9250000000000007,
        7.425, -2.1, 2.4, -2.4749999999999996, -0.22500000000000003, 1.1999999999999997, 3.4499999999999997},
       {0.3000000000000008, -4.999999999999998, -0.749999999999999, 1.350000000000001, 3.1500000000000004,
        4.950000000000001, -1.7499999999999987, -0.24999999999999944}},
      {Shape{2, 4, 3}, Shape{2, 4}, true, true, Shape{2, 3, 2},
       {2.9400000000000004, 0.18000000000000027, -0.6599999999999999, 0.059999999999999915, -1.62, -1.38,
        -0.6599999999999999, 0.059999999999999915, -1.62, -1.38, 0.0600000000000005, 1.1400000000000001},
       {1.9499999999999995, 1.0499999999999994, -3.1500000000000004, -2.025, -1.5749999999999997, 2.1750000000000003,
        5.549999999999999, 7.349999999999999, 0.8999999999999997, 1.5750000000000002, 4.725, 6.2250000000000005,
        -4.050000000000001, 1.6499999999999995, -2.55, 2.6250000000000004, -1.8749999999999998, 1.8750000000000004,
        2.699999999999999, 6.1499999999999995, -0.3000000000000001, 9.375, 2.625, 4.125},
       {3.000000000000001, 0.9500000000000011, -1.65, -4.249999999999999, -2.499999999999999, 2.2500000000000013,
        -1.2500000000000004, -4.75}},
      {Shape{2, 1, 2, 3}, Shape{3, 3, 2}, false, false, Shape{2, 3, 2, 2},
       {0.84, 0.06000000000000011, -1.6199999999999999, 1.6200000000000006, -1.8599999999999999, 0.6599999999999999,
        1.3199999999999996, 1.2600000000000002, 0.06000000000000011, -0.05999999999999972, 1.6200000000000006,
        -1.0799999999999998, -1.44, 1.2000000000000002, -1.26, 0.7800000000000002, 1.2, 1.2, 1.08, 1.1400000000000001,
        1.2000000000000002, -1.44, 0.7800000000000002, -1.7999999999999998},
       {7.725, 9.149999999999999, 2.324999999999999, 12.525, 12.150000000000002, -6.375, 3.5250000000000004, 15.6,
        -3.675000000000001, 0.07499999999999907, 5.4, 5.774999999999999},
       {7.65, 4.8500000000000005, -0.5999999999999994, 1.9000000000000017, -9.4, -9.3, 4.15, 5.75, 1.7000000000000015,
        0.9000000000000008, -7.9, -6.700000000000001, 5.050000000000001, 0.05000000000000071, 0.7000000000000004,
        1.0000000000000009, -5.300000000000001, -7.3999999999999995}},
      {Shape{3, 2}, Shape{2, 2, 3, 4}, true, false, Shape{2, 2, 2, 4},
       {0.7799999999999999, -0.41999999999999993, -0.2999999999999997, -2.16, 0.6599999999999997, -0.9599999999999997,
        1.3799999999999997, 1.7400000000000004, -0.41999999999999993, -0.2999999999999997, -2.16, -0.059999999999999803,
        -0.9599999999999997, 1.3799999999999997, 1.7400000000000004, -1.2, -0.2999999999999997, -2.16,
        -0.059999999999999803, 0.060000000000000046, 1.3799999999999997, 1.7400000000000004, -1.2, 1.14, -2.16,
        -0.059999999999999803, 0.060000000000000046, -1.1399999999999995, 1.7400000000000004, -1.2, 1.14,
        -0.47999999999999987},
       {31.2, 31.799999999999997, 9.900000000000002, 19.349999999999998, -3.1500000000000004, -2.9999999999999982},
       {1.0500000000000005, -3.25, 0.15000000000000063, -4.1499999999999995, 3.15, -0.24999999999999956, 4.05,
        0.6500000000000004, -1.9, 6.938893903907228e-16, -2.4999999999999996, -0.599999999999999, 0.7500000000000004,
        -3.55, -0.1499999999999993, 1.0500000000000005, 3.45, 0.050000000000000266, 4.3500000000000005, 3.15,
        -2.0999999999999996, -0.1999999999999992, -2.6999999999999993, -1.9, 0.45000000000000057, -3.8499999999999996,
        -2.65, 0.7500000000000004, 3.75, 0.35000000000000053, -0.8499999999999996, 3.45, -2.3, -0.39999999999999913,
        0.40000000000000047, -2.0999999999999996, 0.15000000000000063, -4.1499999999999995, -2.9499999999999997,
        0.45000000000000057, 4.05, 0.6500000000000004, -0.5499999999999998, 3.75, -2.4999999999999996,
        -0.599999999999999, 0.2000000000000006, -2.3}},
  };
  for (const Case& k : cases) {
    BOOST_TEST_CONTEXT(k.sa << (k.ta ? "ᵀ" : "") << " x " << k.sb << (k.tb ? "ᵀ" : "")) {
      Tensor a = pattern(k.sa).requires_grad_(), b = pattern(k.sb, 0.3, -1.2).requires_grad_();
      Tensor c = matmul(a, b, k.ta, k.tb);
      BOOST_TEST(c.shape() == k.sc);
      tft::check_close(c, k.c, 1e-12, 1e-12);
      reduce_sum(c * pattern(c.shape(), 0.5, 0.25)).backward();
      BOOST_TEST(a.grad().shape() == k.sa);
      BOOST_TEST(b.grad().shape() == k.sb);
      tft::check_close(a.grad(), k.ga, 1e-12, 1e-12);
      tft::check_close(b.grad(), k.gb, 1e-12, 1e-12);
      // float32 through the same kernels
      tft::check_close(matmul(cast(a.detach(), float32), cast(b.detach(), float32), k.ta, k.tb), k.c, 1e-5, 1e-5);
    }
  }
}

BOOST_AUTO_TEST_CASE(a_broadcast_product_is_the_product_of_the_broadcast_operands) {
  // Each broadcast case against the same product with the batch dims materialised (equal ranks).
  Generator gen(5);
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      Tensor a = random_uniform({2, 1, 3, 4}, -1, 1, float64, &gen), b = random_uniform({3, 4, 5}, -1, 1, float64, &gen);
      Tensor as = ta ? swap_last(a) : a, bs = tb ? swap_last(b) : b;
      Tensor full_a = broadcast_to(as, {2, 3, as.dim(-2), as.dim(-1)});
      Tensor full_b = broadcast_to(reshape(bs, {1, 3, bs.dim(-2), bs.dim(-1)}), {2, 3, bs.dim(-2), bs.dim(-1)});
      Tensor c = matmul(as, bs, ta, tb);
      BOOST_TEST(c.shape() == Shape({2, 3, 3, 5}));
      tft::check_close(c, matmul(full_a, full_b, ta, tb).to_vector<double>(), 1e-13, 1e-13);
      // a [B,T,D] and a matrix: the rows fold into one product
      Tensor x = random_uniform({2, 3, 4}, -1, 1, float64, &gen), w = random_uniform({4, 5}, -1, 1, float64, &gen);
      Tensor ws = tb ? transpose(w) : w;
      tft::check_close(matmul(x, ws, false, tb),
                       matmul(x, broadcast_to(reshape(ws, {1, ws.dim(0), ws.dim(1)}), {2, ws.dim(0), ws.dim(1)}), false, tb)
                           .to_vector<double>(),
                       1e-13, 1e-13);
    }
}

BOOST_AUTO_TEST_CASE(broadcast_matmul_gradcheck) {
  struct Dims {
    Shape a, b;  // stored shapes
    bool ta, tb;
  };
  const std::vector<Dims> dims = {
      {Shape{2, 3, 4}, Shape{4, 2}, false, false},       {Shape{2, 3, 4}, Shape{2, 4}, false, true},
      {Shape{2, 4, 3}, Shape{4, 2}, true, false},        {Shape{3, 4}, Shape{2, 4, 2}, false, false},
      {Shape{4, 3}, Shape{2, 2, 4}, true, true},         {Shape{2, 2, 3, 2}, Shape{2, 2, 2, 3}, false, false},
      {Shape{2, 1, 3, 2}, Shape{3, 2, 2}, false, false}, {Shape{1, 2, 2}, Shape{3, 1, 2, 2}, true, false},
      {Shape{1, 1, 1}, Shape{1, 1}, false, false},
  };
  for (const Dims& d : dims)
    BOOST_TEST_CONTEXT(d.a << (d.ta ? "ᵀ" : "") << " x " << d.b << (d.tb ? "ᵀ" : "")) {
      tft::check_grad([&](std::span<const Tensor> in) { return matmul(in[0], in[1], d.ta, d.tb); },
                      {tft::rand64(d.a, -1, 1, 1), tft::rand64(d.b, -1, 1, 2)});
      // One operand a constant.
      Tensor fixed = tft::rand64(d.b, -1, 1, 3).detach();
      tft::check_grad([&](std::span<const Tensor> in) { return square(matmul(in[0], fixed, d.ta, d.tb)); },
                      {tft::rand64(d.a, -1, 1, 4)});
    }
}

BOOST_AUTO_TEST_CASE(broadcast_matmul_errors) {
  TF_CHECK_THROWS_WITH(matmul(ones({2, 2, 3}), ones({3, 3, 2})), ShapeError,
                       "matmul: batch dimensions of [2,2,3] and [3,3,2] cannot be broadcast (dimension 0: 2 vs 3); "
                       "each must be equal or 1");
  // Batch dims align from the back: [2,3] with [4] compares 3 with 4.
  TF_CHECK_THROWS_WITH(matmul(ones({2, 3, 2, 3}), ones({4, 3, 2})), ShapeError,
                       "matmul: batch dimensions of [2,3,2,3] and [4,3,2] cannot be broadcast (dimension 1: 3 vs 4)");
  TF_CHECK_THROWS_WITH(matmul(ones({2, 3, 4}), ones({5, 2})), ShapeError,
                       "matmul: cannot multiply [2,3,4] by [5,2]: inner dimensions 4 != 5");
  TF_CHECK_THROWS_WITH(matmul(ones({3}), ones({3, 2})), ShapeError,
                       "matmul: cannot multiply [3] by [3,2]: both need rank >= 2 (use reshape or expand_dims)");
}

// ---------------------------------------------------------------------------- einsum

BOOST_AUTO_TEST_CASE(einsum_values_against_numpy) {
  // ops = [pattern(s, 0.2 + 0.1 * k, -1.0 + 0.3 * k) for k, s in enumerate(shapes)]
  // r = np.einsum(eq, *ops)
  struct Case {
    const char* equation;
    std::vector<Shape> shapes;
    Shape out;
    std::vector<double> expected;
  };
  const std::vector<Case> cases = {
      {"ij,jk->ik", {Shape{2,3}, Shape{3,4}}, Shape{2,4},
       {1.3, -2.1200000000000006, 0.4, -1.7000000000000006, -0.23999999999999977, 0.3600000000000003,
        0.30000000000000043, 2.880000000000001}},
      {"bij,bjk->bik", {Shape{2,2,3}, Shape{2,3,2}}, Shape{2,2,2},
       {0.34, -0.44000000000000006, -1.32, 1.920000000000001, 1.2, 1.2000000000000002, 0.78, 0.8400000000000001}},
      {"bhqd,bhkd->bhqk", {Shape{1,2,3,2}, Shape{1,2,2,2}}, Shape{1,2,3,2},
       {1.2600000000000002, 0.7200000000000004, 1.6800000000000006, 2.2200000000000006, -0.9800000000000004,
        -1.3400000000000003, 0.8800000000000003, 1.6, -0.9400000000000003, -1.1199999999999999, -0.12000000000000013,
        -1.2000000000000002}},
      {"bij,jk->bik", {Shape{2,2,3}, Shape{3,2}}, Shape{2,2,2},
       {0.34, -0.44000000000000006, -1.32, 1.920000000000001, -1.4400000000000004, 1.2000000000000004,
        -1.5600000000000005, 0.48000000000000037}},
      {"bi,bi->b", {Shape{3,4}, Shape{3,4}}, Shape{3},
       {3.4800000000000013, 1.8800000000000001, 1.9400000000000004}},
      {"i,j->ij", {Shape{3}, Shape{2}}, Shape{3,2},
       {0.7, -1.4000000000000006, -0.2800000000000001, 0.5600000000000004, 0.2799999999999999, -0.56}},
      {"ij->ji", {Shape{2,3}}, Shape{3,2},
       {-1, 1, 0.40000000000000013, 0.20000000000000018, -0.3999999999999999, -0.6}},
      {"bij->j", {Shape{2,3,2}}, Shape{2}, {-1.3999999999999997, 0.40000000000000036}},
      {"ij,ij", {Shape{2,3}, Shape{2,3}}, Shape{}, {3.7600000000000016}},
      {"ab,bc,cd->ad", {Shape{2,3}, Shape{3,4}, Shape{4,2}}, Shape{2,2},
       {-6.8560000000000025, -7.072000000000003, 10.200000000000003, 5.448000000000002}},
      {"bqd,kd,bk->bq", {Shape{2,3,2}, Shape{4,2}, Shape{2,4}}, Shape{2,3},
       {-5.735999999999998, 4.224000000000003, -2.888, 4.320000000000002, -1.5119999999999991,
        -5.7600000000000025}},
      {"ijk,ikj->i", {Shape{2,3,2}, Shape{2,2,3}}, Shape{2}, {2.260000000000001, 2.04}},
      {"ik,kj", {Shape{2,3}, Shape{3,2}}, Shape{2,2}, {0.34, -0.44000000000000006, -1.32, 1.920000000000001}},
      {"abc,cda->bd", {Shape{2,3,2}, Shape{2,2,2}}, Shape{3,2},
       {2.2600000000000007, 2.440000000000001, 0.19999999999999996, 0.5599999999999994, -0.9800000000000004,
        -2.42}},
  };
  for (const Case& c : cases) {
    BOOST_TEST_CONTEXT(c.equation) {
      std::vector<Tensor> ops;
      for (std::size_t k = 0; k < c.shapes.size(); ++k)
        ops.push_back(pattern(c.shapes[k], 0.2 + 0.1 * static_cast<double>(k), -1.0 + 0.3 * static_cast<double>(k)));
      Tensor r = einsum(c.equation, ops);
      BOOST_TEST(r.shape() == c.out);
      tft::check_close(r, c.expected, 1e-12, 1e-12);
    }
  }
  // Spaces are ignored; float32 stays float32.
  Tensor f = einsum(" ij , jk -> ik ", {ones({2, 3}), ones({3, 2})});
  BOOST_TEST(f.dtype() == float32);
  tft::check_close(f, {3, 3, 3, 3});
}

BOOST_AUTO_TEST_CASE(einsum_gradcheck) {
  struct Case {
    const char* equation;
    std::vector<Shape> shapes;
  };
  const std::vector<Case> cases = {
      {"ij,jk->ik", {Shape{2, 3}, Shape{3, 4}}},           {"bhqd,bhkd->bhqk", {Shape{1, 2, 3, 2}, Shape{1, 2, 2, 2}}},
      {"bhqk,bhkd->bhqd", {Shape{2, 1, 3, 2}, Shape{2, 1, 2, 2}}}, {"btd,de->bte", {Shape{2, 3, 2}, Shape{2, 3}}},
      {"bi,bi->b", {Shape{3, 4}, Shape{3, 4}}},            {"i,j->ij", {Shape{3}, Shape{2}}},
      {"bij->jb", {Shape{2, 3, 2}}},                       {"ab,bc,cd->ad", {Shape{2, 3}, Shape{3, 2}, Shape{2, 2}}},
      {"ijk,ikj->i", {Shape{2, 3, 2}, Shape{2, 2, 3}}},    {"abc,cda->bd", {Shape{2, 3, 2}, Shape{2, 2, 2}}},
      {"i,i", {Shape{4}, Shape{4}}},
  };
  for (const Case& c : cases)
    BOOST_TEST_CONTEXT(c.equation) {
      std::vector<Tensor> inputs;
      for (std::size_t k = 0; k < c.shapes.size(); ++k)
        inputs.push_back(tft::rand64(c.shapes[k], -1, 1, static_cast<unsigned>(k + 1)));
      tft::check_grad([&](std::span<const Tensor> in) {
        return square(einsum(c.equation, std::vector<Tensor>(in.begin(), in.end())));
      }, inputs);
    }
}

BOOST_AUTO_TEST_CASE(einsum_errors) {
  Tensor a = ones({2, 3}), b = ones({4, 5});
  TF_CHECK_THROWS_WITH(einsum("ij,jk->ik", {a, b}), ShapeError,
                       "einsum: dimension 'j' is 3 in operand 0 [2,3] but 4 in operand 1 [4,5], in 'ij,jk->ik'");
  TF_CHECK_THROWS_WITH(einsum("ijk,jk->i", {a, b}), ShapeError,
                       "einsum: operand 0 'ijk' names 3 dimensions but its tensor is [2,3] (rank 2)");
  TF_CHECK_THROWS_WITH(einsum("ij,jk->ik", {a}), ValueError, "einsum: 'ij,jk->ik' has 2 operands but 1 tensor were given");
  TF_CHECK_THROWS_WITH(einsum("...ij,jk->...ik", {a, b}), ValueError, "einsum: '...' in '...ij,jk->...ik'",
                       "name each dimension with a letter");
  TF_CHECK_THROWS_WITH(einsum("ii->i", {ones({2, 2})}), ValueError,
                       "einsum: 'i' appears twice in operand 0 'ii' of 'ii->i'", "diagonals are not supported");
  TF_CHECK_THROWS_WITH(einsum("ij->ii", {a}), ValueError, "einsum: 'i' appears twice in the output 'ii'");
  TF_CHECK_THROWS_WITH(einsum("ij->iz", {a}), ValueError, "einsum: output letter 'z' of 'ij->iz' is in no operand");
  TF_CHECK_THROWS_WITH(einsum("i1->i", {ones({2, 2})}), ValueError, "einsum: '1' in 'i1->i' is not a letter");
  TF_CHECK_THROWS_WITH(einsum("ij->j", {ones({2, 3}, int32)}), DTypeError,
                       "einsum: expected a float32 or float64 tensor, got int32 [2,3]");
  TF_CHECK_THROWS_WITH(einsum("ij", {}), ValueError, "einsum: 'ij' needs at least one tensor");
}

BOOST_AUTO_TEST_SUITE_END()
