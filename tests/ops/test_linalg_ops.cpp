// matmul: 2-D and batched values for all four transpose-flag combinations, gradchecks, errors.
#include <vector>

#include "helpers.h"
#include "onednn_kernels.h"
#include "ops/kernels.h"
#include "ops/reference.h"

using namespace tapeflow;

namespace {

/// The stored shape of an operand [..., rows, cols], transposed in its last two dims when `t`.
Shape stored(Shape s, bool t) {
  if (t) {
    const int r = s.rank();
    std::int64_t last = s[r - 1];
    s[r - 1] = s[r - 2];
    s[r - 2] = last;
  }
  return s;
}

using tft::swap_last;

/// C = A·B by the definition, over batches, in double.
std::vector<double> naive_matmul(const Tensor& a, const Tensor& b) {
  const std::int64_t m = a.dim(-2), k = a.dim(-1), n = b.dim(-1), batch = a.numel() / (m * k);
  std::vector<double> av = a.to_vector<double>(), bv = b.to_vector<double>(), c;
  for (std::int64_t q = 0; q < batch; ++q)
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t j = 0; j < n; ++j) {
        double s = 0;
        for (std::int64_t l = 0; l < k; ++l)
          s += av[static_cast<std::size_t>(q * m * k + i * k + l)] * bv[static_cast<std::size_t>(q * k * n + l * n + j)];
        c.push_back(s);
      }
  return c;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(linalg_ops)

BOOST_AUTO_TEST_CASE(matmul_2d_values_all_transpose_flags) {
  Tensor a = tensor({{1, 2, 3}, {4, 5, 6}});       // [2,3]
  Tensor b = tensor({{7, 8}, {9, 10}, {11, 12}});  // [3,2]
  Tensor at = transpose(a), bt = transpose(b);
  const std::vector<double> ab = {58, 64, 139, 154};
  Tensor c = matmul(a, b);
  BOOST_TEST(c.shape() == Shape({2, 2}));
  BOOST_TEST(c.dtype() == float32);
  tft::check_close(c, ab);
  tft::check_close(matmul(at, b, true, false), ab);
  tft::check_close(matmul(a, bt, false, true), ab);
  tft::check_close(matmul(at, bt, true, true), ab);
  // B·A is [3,3]
  Tensor d = matmul(b, a);
  BOOST_TEST(d.shape() == Shape({3, 3}));
  tft::check_close(d, {39, 54, 69, 49, 68, 87, 59, 82, 105});
  tft::check_close(matmul(full({1, 1}, 2), full({1, 1}, 3)), {6});
}

BOOST_AUTO_TEST_CASE(matmul_batched_values) {
  Tensor a = reshape(arange(12), {2, 2, 3}) - 5.0;
  Tensor b = reshape(arange(12), {2, 3, 2}) * 0.5;
  const std::vector<double> ab = {-10, -16, -1, -2.5, 26, 29, 62, 69.5};
  Tensor c = matmul(a, b);
  BOOST_TEST(c.shape() == Shape({2, 2, 2}));
  tft::check_close(c, ab);
  tft::check_close(matmul(swap_last(a), b, true, false), ab);
  tft::check_close(matmul(a, swap_last(b), false, true), ab);
  tft::check_close(matmul(swap_last(a), swap_last(b), true, true), ab);
  // rank 4, float64, a larger size against the definition
  Generator gen(3);
  Tensor x = random_uniform({2, 3, 5, 7}, -1, 1, float64, &gen);
  Tensor y = random_uniform({2, 3, 7, 4}, -1, 1, float64, &gen);
  Tensor z = matmul(x, y);
  BOOST_TEST(z.shape() == Shape({2, 3, 5, 4}));
  BOOST_TEST(z.dtype() == float64);
  tft::check_close(z, naive_matmul(x, y), 1e-12);
  tft::check_close(matmul(swap_last(x), swap_last(y), true, true), naive_matmul(x, y), 1e-12);
}

// Products of 2^17 multiply-adds and more are split between the threads: by rows of C when C is
// at least as tall as it is wide, else by columns in blocks of 64 bytes. Each shape, transposes,
// dtype, thread count and kernel (float: oneDNN's where built with it, and Eigen's) against the
// definition, and xw_plus_b (which accumulates into rows that start from the bias) on the same
// split.
BOOST_AUTO_TEST_CASE(matmul_split_between_threads) {
  struct Dims {
    std::int64_t m, k, n;
  };
  const std::vector<Dims> dims = {
      {300, 70, 20},  // by rows, 150 each
      {301, 70, 20},  // by rows, unequal shares
      {20, 70, 301},  // by columns: 304 / 16 = 19 blocks of 16 floats (or 38 of 8 doubles), the last short
      {16, 500, 17},  // by columns: one block of 16 and one of a single column
      {9, 30, 11},    // below oneDNN's threshold: Eigen's kernel, one thread
  };
  std::vector<detail::GemmKernel> kernels = {detail::GemmKernel::eigen};
  try {
    detail::set_gemm_kernel(detail::GemmKernel::onednn);
    kernels.push_back(detail::GemmKernel::onednn);
  } catch (const ValueError&) {
    BOOST_TEST_MESSAGE("built without oneDNN: Eigen's kernel only");
  }
  const detail::GemmKernel default_kernel = detail::gemm_kernel();
  const int before = get_num_threads();
  set_adaptive_threads(false);  // the teams of the counts asked for, whatever the load
  for (detail::GemmKernel kernel : kernels)
    for (int threads : {1, 2, 3}) {
      detail::set_gemm_kernel(kernel);
      set_num_threads(threads);
      for (const Dims& d : dims)
        for (DType dtype : {float32, float64})
          for (bool ta : {false, true})
            for (bool tb : {false, true}) {
              BOOST_TEST_CONTEXT(fmt::format("{}x{}x{} {} ta={} tb={} threads={} kernel={}", d.m, d.k, d.n,
                                             dtype_name(dtype), ta, tb, threads, detail::gemm_kernel_name())) {
                Generator gen(7);
                Tensor a = random_uniform({d.m, d.k}, -1, 1, dtype, &gen), b = random_uniform({d.k, d.n}, -1, 1, dtype, &gen);
                Tensor c = matmul(ta ? swap_last(a) : a, tb ? swap_last(b) : b, ta, tb);
                BOOST_TEST(c.shape() == Shape({d.m, d.n}));
                tft::check_close(c, naive_matmul(a, b), dtype == float32 ? 1e-4 : 1e-12);
              }
            }
      for (const Dims& d : dims)
        for (DType dtype : {float32, float64}) {
          Generator gen(8);
          Tensor x = random_uniform({d.m, d.k}, -1, 1, dtype, &gen), w = random_uniform({d.k, d.n}, -1, 1, dtype, &gen);
          Tensor bias = random_uniform({d.n}, -1, 1, dtype, &gen);
          std::vector<double> expected = naive_matmul(x, w), bv = bias.to_vector<double>();
          for (std::size_t i = 0; i < expected.size(); ++i) expected[i] += bv[i % bv.size()];
          tft::check_close(nn::xw_plus_b(x, w, bias), expected, dtype == float32 ? 1e-4 : 1e-12);
        }
    }
  set_num_threads(before);
  set_adaptive_threads(true);
  detail::set_gemm_kernel(default_kernel);
}

// The two kernels compute the same products up to rounding, and each the same bits at any
// number of threads (as the thread-count test checks for the default kernel).
BOOST_AUTO_TEST_CASE(matmul_kernels_agree) {
  const tft::OneDnnKernels onednn;
  if (!onednn.available) return;
  Generator gen(11);
  const Tensor a = random_uniform({100, 2450}, -1, 1, float32, &gen), b = random_uniform({2450, 120}, -1, 1, float32, &gen);
  const int before = get_num_threads();
  set_adaptive_threads(false);
  std::vector<Tensor> results;
  for (detail::GemmKernel kernel : {detail::GemmKernel::onednn, detail::GemmKernel::eigen})
    for (int threads : {1, 2}) {
      detail::set_gemm_kernel(kernel);
      set_num_threads(threads);
      results.push_back(matmul(a, b, false, false));
      results.push_back(matmul(swap_last(a), b, true, false));
    }
  set_num_threads(before);
  set_adaptive_threads(true);
  for (int i : {0, 1}) {
    BOOST_TEST(reduce_max(abs(results[i] - results[i + 2])).item<float>() == 0.0f);  // oneDNN, 1 and 2 threads
    BOOST_TEST(reduce_max(abs(results[i + 4] - results[i + 6])).item<float>() == 0.0f);  // Eigen
    const float difference = reduce_max(abs(results[i] - results[i + 4])).item<float>();
    BOOST_TEST(difference < 1e-4f);  // |values| ~ 30
  }
}

BOOST_AUTO_TEST_CASE(matmul_gradient_values) {
  // d sum(A·B) / dA = 1·Bᵀ: each row of dA holds B's row sums; dB = Aᵀ·1: each column holds A's column sums.
  Tensor a = tensor({{1, 2, 3}, {4, 5, 6}}, float64).requires_grad_();
  Tensor b = tensor({{7, 8}, {9, 10}, {11, 12}}, float64).requires_grad_();
  reduce_sum(matmul(a, b)).backward();
  tft::check_close(a.grad(), {15, 19, 23, 15, 19, 23});
  tft::check_close(b.grad(), {5, 5, 7, 7, 9, 9});
  // With the transposes, the gradient has the stored (transposed) shape.
  Tensor at = tensor({{1, 4}, {2, 5}, {3, 6}}, float64).requires_grad_();
  reduce_sum(matmul(at, b, true, false)).backward();
  BOOST_TEST(at.grad().shape() == Shape({3, 2}));
  tft::check_close(at.grad(), {15, 15, 19, 19, 23, 23});
}

BOOST_AUTO_TEST_CASE(matmul_gradcheck_all_flags) {
  struct Dims {
    Shape a, b;  // logical shapes of op(A) and op(B)
  };
  const std::vector<Dims> dims = {
      {Shape{1, 1}, Shape{1, 1}},       {Shape{2, 3}, Shape{3, 4}},       {Shape{1, 3}, Shape{3, 1}},
      {Shape{4, 1}, Shape{1, 3}},       {Shape{2, 2, 3}, Shape{2, 3, 4}}, {Shape{2, 1, 2, 3}, Shape{2, 1, 3, 2}},
  };
  for (const Dims& d : dims)
    for (bool ta : {false, true})
      for (bool tb : {false, true})
        tft::check_grad([ta, tb](std::span<const Tensor> in) { return matmul(in[0], in[1], ta, tb); },
                        {tft::rand64(stored(d.a, ta), -1, 1, 1), tft::rand64(stored(d.b, tb), -1, 1, 2)});
  // Only one operand requires grad.
  Tensor w = random_uniform({3, 2}, -1, 1, float64);
  tft::check_grad([&](std::span<const Tensor> in) { return matmul(in[0], w); }, {tft::rand64({4, 3})});
  tft::check_grad([&](std::span<const Tensor> in) { return matmul(w, in[0], true, false); }, {tft::rand64({3, 5})});
}

BOOST_AUTO_TEST_CASE(matmul_inner_dimension_mismatch_names_both_shapes) {
  TF_CHECK_THROWS_WITH(matmul(ones({2, 3}), ones({4, 2})), ShapeError, "matmul", "[2,3]", "[4,2]",
                       "inner dimensions 3 != 4");
  TF_CHECK_THROWS_WITH(matmul(ones({2, 3}), ones({2, 4}), false, true), ShapeError, "matmul", "[2,3]", "[2,4]",
                       "3 != 4");
  TF_CHECK_THROWS_WITH(matmul(ones({3, 2}), ones({3, 2}), true, true), ShapeError, "matmul", "3 != 2");
  TF_CHECK_THROWS_WITH(matmul(ones({5, 2, 3}), ones({5, 4, 2})), ShapeError, "matmul", "[5,2,3]", "[5,4,2]");
}

BOOST_AUTO_TEST_CASE(matmul_other_errors) {
  TF_CHECK_THROWS_WITH(matmul(ones({3}), ones({3, 2})), ShapeError, "matmul", "[3]", "[3,2]", "rank >= 2");
  TF_CHECK_THROWS_WITH(matmul(ones({2, 2, 3}), ones({3, 3, 2})), ShapeError, "matmul", "batch dimensions", "[2,2,3]",
                       "[3,3,2]");
  TF_CHECK_THROWS_WITH(matmul(ones({2, 2}), ones({2, 2}, float64)), DTypeError, "matmul", "float32", "float64");
  TF_CHECK_THROWS_WITH(matmul(ones({2, 2}, int32), ones({2, 2}, int32)), DTypeError, "matmul", "int32");
}

BOOST_AUTO_TEST_SUITE_END()
