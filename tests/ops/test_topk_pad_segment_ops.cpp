// The ops of sequence models: top_k, pad (CONSTANT, REFLECT, SYMMETRIC), unsorted_segment_sum
// (and gather's gradient, which it computes) and linalg::band_part: values against numpy / torch
// (the Python that computed them is quoted above each), first and second order gradchecks over
// several shapes, and the error messages.
#include <cmath>
#include <limits>

#include "helpers.h"
#include "ops/reference.h"

using namespace tapeflow;

namespace {

using tft::grad_of_sum;
using tft::pattern;
using tft::weighted_grad;

}  // namespace

BOOST_AUTO_TEST_SUITE(topk_pad_segment_ops)

// ---------------------------------------------------------------------------- top_k

BOOST_AUTO_TEST_CASE(top_k_values_and_indices_against_numpy) {
  // t = pattern((3, 6))
  // order = np.argsort(-t, axis=-1, kind="stable")[:, :k]   (equal values: the lower index first)
  // np.take_along_axis(t, order, -1), order; unsorted: np.sort(order, axis=-1)
  Tensor t = pattern({3, 6});
  auto [v1, i1] = top_k(t, 1);
  BOOST_TEST(v1.shape() == Shape({3, 1}));
  BOOST_TEST(i1.dtype() == int32);
  tft::check_close(v1, {1, 0.8, 1});
  tft::check_close(i1, {3, 0, 2}, 0, 0);
  auto [v3, i3] = top_k(t, 3);
  tft::check_close(v3, {1, 0.40000000000000013, 0.20000000000000018, 0.8, 0.6000000000000001, 0, 1, 0.8,
                        0.40000000000000013});
  tft::check_close(i3, {3, 1, 4, 0, 3, 1, 2, 5, 0}, 0, 0);
  auto [u3, j3] = top_k(t, 3, /*sorted=*/false);  // in the order they stand in t
  tft::check_close(u3, {0.40000000000000013, 1, 0.20000000000000018, 0.8, 0, 0.6000000000000001, 0.40000000000000013,
                        1, 0.8});
  tft::check_close(j3, {1, 3, 4, 0, 1, 3, 0, 2, 5}, 0, 0);
  auto [v6, i6] = top_k(t, 6);
  tft::check_close(i6, {3, 1, 4, 2, 5, 0, 0, 3, 1, 4, 2, 5, 2, 5, 0, 3, 1, 4}, 0, 0);
  BOOST_TEST(top_k(t, 0).values.shape() == Shape({3, 0}));
  // Rank 1 and rank 3, integers.
  auto [a, ai] = top_k(tensor({4, -1, 7, 0}, int64), 2);
  BOOST_TEST(a.dtype() == int64);
  tft::check_close(a, {7, 4}, 0, 0);
  tft::check_close(ai, {2, 0}, 0, 0);
  BOOST_TEST(top_k(pattern({2, 2, 5}), 2).indices.shape() == Shape({2, 2, 2}));
}

BOOST_AUTO_TEST_CASE(top_k_ties_take_the_lower_index_first_and_nan_counts_as_largest) {
  // np.argsort(-np.array([3, 1, 3, 2, 1, 3]), kind="stable")[:4] is [0, 2, 5, 3]
  auto [v, i] = top_k(tensor({3, 1, 3, 2, 1, 3}), 4);
  tft::check_close(v, {3, 3, 3, 2}, 0, 0);
  tft::check_close(i, {0, 2, 5, 3}, 0, 0);
  tft::check_close(top_k(tensor({3, 1, 3, 2, 1, 3}), 4, false).indices, {0, 2, 3, 5}, 0, 0);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  auto [nv, ni] = top_k(tensor({1.0, nan, 5.0, nan}, float64), 3);  // torch.topk's order
  tft::check_close(ni, {1, 3, 2}, 0, 0);
  BOOST_TEST(std::isnan(nv.to_vector<double>()[0]));
  BOOST_TEST(nv.to_vector<double>()[2] == 5.0);
}

BOOST_AUTO_TEST_CASE(top_k_gradient_goes_to_the_positions_taken) {
  // order = np.argsort(-t, axis=-1, kind="stable")[:, :3]; tt = torch.tensor(t, requires_grad=True)
  // vals = torch.gather(tt, -1, torch.tensor(order)); wk = torch.tensor(pattern((3, 3), 0.5, 0.25))
  // g, = torch.autograd.grad((vals * wk).sum(), tt)
  tft::check_close(weighted_grad([](const Tensor& x) { return top_k(x, 3).values; }, pattern({3, 6})),
                   {0, 3.75, 0, 0.25, 1.75, 0, 5.25, 1.25, 0, 3.25, 0, 0, 0.75, 0, 4.75, 0, 0, 2.75});
  // Random values do not tie: the selection is the same within a finite-difference step.
  for (const Shape& s : {Shape{1}, Shape{6}, Shape{1, 1}, Shape{3, 5}, Shape{2, 3, 4}})
    for (std::int64_t k : {std::int64_t{1}, s.dim(-1)})
      for (bool sorted : {true, false})
        tft::check_grad([=](std::span<const Tensor> in) { return square(top_k(in[0], k, sorted).values); },
                        {tft::rand64(s)});
  // The indices output is not differentiable.
  Tensor x = tft::rand64({2, 3});
  BOOST_TEST(!top_k(x, 2).indices.requires_grad());
  BOOST_TEST(top_k(x, 2).values.requires_grad());
}

BOOST_AUTO_TEST_CASE(top_k_errors) {
  TF_CHECK_THROWS_WITH(top_k(ones({3, 4}), 5), ValueError,
                       "top_k: k = 5 is larger than the last dimension of input [3,4] (4); use k <= 4");
  TF_CHECK_THROWS_WITH(top_k(ones({3}), -1), ValueError, "top_k: k must be >= 0, got -1 for input [3]");
  TF_CHECK_THROWS_WITH(top_k(scalar(1.0), 1), ValueError, "top_k: needs a tensor of rank >= 1", "got a scalar");
  TF_CHECK_THROWS_WITH(top_k(ones({3}, bool_), 1), DTypeError, "top_k: expected a numeric tensor, got bool [3]");
}

// ---------------------------------------------------------------------------- pad

BOOST_AUTO_TEST_CASE(pad_values_against_numpy) {
  // x = np.arange(1, 7, dtype=np.float64).reshape(2, 3); pads = ((1, 1), (2, 2))
  // np.pad(x, pads), np.pad(x, pads, constant_values=9.5), np.pad(x, pads, mode="reflect"),
  // np.pad(x, ((2, 0), (3, 1)), mode="symmetric")
  Tensor x = reshape(arange(1, 7, 1, float64), {2, 3});
  Tensor c = pad(x, {{1, 1}, {2, 2}});
  BOOST_TEST(c.shape() == Shape({4, 7}));
  tft::check_close(c, {0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 0, 0, 0, 0, 4, 5, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 0, 0);
  tft::check_close(pad(x, {{1, 1}, {2, 2}}, "CONSTANT", 9.5),
                   {9.5, 9.5, 9.5, 9.5, 9.5, 9.5, 9.5, 9.5, 9.5, 1, 2, 3, 9.5, 9.5,
                    9.5, 9.5, 4, 5, 6, 9.5, 9.5, 9.5, 9.5, 9.5, 9.5, 9.5, 9.5, 9.5}, 0, 0);
  tft::check_close(pad(x, {{1, 1}, {2, 2}}, "REFLECT"),
                   {6, 5, 4, 5, 6, 5, 4, 3, 2, 1, 2, 3, 2, 1, 6, 5, 4, 5, 6, 5, 4, 3, 2, 1, 2, 3, 2, 1}, 0, 0);
  Tensor s = pad(x, {{2, 0}, {3, 1}}, "symmetric");  // the mode in any case
  BOOST_TEST(s.shape() == Shape({4, 7}));
  tft::check_close(s, {6, 5, 4, 4, 5, 6, 6, 3, 2, 1, 1, 2, 3, 3, 3, 2, 1, 1, 2, 3, 3, 6, 5, 4, 4, 5, 6, 6}, 0, 0);
  // np.pad(np.array([1, 2, 3]), (2, 2), mode="reflect"), mode="symmetric"
  tft::check_close(pad(tensor({1, 2, 3}, int32), {{2, 2}}, "REFLECT"), {3, 2, 1, 2, 3, 2, 1}, 0, 0);
  tft::check_close(pad(tensor({1, 2, 3}, int32), {{2, 2}}, "SYMMETRIC"), {2, 1, 1, 2, 3, 3, 2}, 0, 0);
  // Other dtypes, zero paddings and a scalar.
  Tensor b = pad(tensor({1, 0}, bool_), {{1, 0}}, "CONSTANT", 1);
  BOOST_TEST(b.dtype() == bool_);
  tft::check_close(b, {1, 1, 0}, 0, 0);
  tft::check_close(pad(x, {{0, 0}, {0, 0}}, "REFLECT"), {1, 2, 3, 4, 5, 6}, 0, 0);
  tft::check_close(pad(scalar(4.0), {}), {4}, 0, 0);
  BOOST_TEST(pad(zeros({0, 2}), {{1, 0}, {0, 1}}, "CONSTANT", 3).shape() == Shape({1, 3}));
}

BOOST_AUTO_TEST_CASE(pad_gradient_values_against_torch) {
  // The padded tensor in torch, by indexing x with numpy's own padding of each index range:
  // xt = torch.tensor(pattern(shape), requires_grad=True)
  // idx = [np.pad(np.arange(n), p, mode=mode) for n, p in zip(shape, pads)]
  // y = xt[np.ix_(*idx)]; w = torch.tensor(pattern(tuple(y.shape), 0.5, 0.25))
  // g, = torch.autograd.grad((w * y).sum(), xt)
  tft::check_close(weighted_grad([](const Tensor& t) { return pad(t, {{1, 1}, {2, 2}}, "REFLECT"); }, pattern({2, 3})),
                   {11, 12, 10.5, 12, 19, 11.5});
  tft::check_close(weighted_grad([](const Tensor& t) { return pad(t, {{2, 0}, {3, 1}}, "SYMMETRIC"); }, pattern({2, 3})),
                   {12.5, 7, 18.5, 12.5, 12.5, 13});
  tft::check_close(weighted_grad([](const Tensor& t) { return pad(t, {{3, 2}}, "REFLECT"); }, pattern({4})),
                   {5.25, 5.75, 7.75, 5});
  // CONSTANT: the gradient of the copied box, w's interior.
  // xt = torch.tensor(pattern((2, 3)), requires_grad=True)
  // y = torch.nn.functional.pad(xt, (2, 2, 1, 1), value=3.0); w = torch.tensor(pattern((4, 7), 0.5, 0.25))
  // g, = torch.autograd.grad((w * y).sum(), xt)
  tft::check_close(weighted_grad([](const Tensor& t) { return pad(t, {{1, 1}, {2, 2}}, "CONSTANT", 3); },
                                 pattern({2, 3})),
                   {4.25, 2.25, 0.25, 1.25, 4.75, 2.75});
}

BOOST_AUTO_TEST_CASE(pad_gradcheck) {
  struct Case {
    Shape shape;
    Paddings paddings;
  };
  const std::vector<Case> cases = {{Shape{1}, {{0, 1}}},
                                   {Shape{4}, {{3, 2}}},
                                   {Shape{1, 1}, {{1, 0}, {0, 1}}},
                                   {Shape{3, 4}, {{2, 1}, {0, 3}}},
                                   {Shape{2, 3, 2}, {{1, 1}, {2, 0}, {1, 1}}}};
  for (const Case& c : cases)
    for (const char* mode : {"CONSTANT", "REFLECT", "SYMMETRIC"}) {
      bool fits = true;  // REFLECT pads at most size - 1
      for (int i = 0; i < c.shape.rank(); ++i)
        fits = fits && (std::string(mode) != "REFLECT" ||
                        std::max(c.paddings[static_cast<std::size_t>(i)][0], c.paddings[static_cast<std::size_t>(i)][1]) <
                            c.shape[i]);
      if (!fits) continue;
      BOOST_TEST_CONTEXT(mode << " " << c.shape) {
        tft::check_grad([&](std::span<const Tensor> in) { return square(pad(in[0], c.paddings, mode, 0.5)); },
                        {tft::rand64(c.shape)});
      }
    }
}

BOOST_AUTO_TEST_CASE(pad_errors) {
  Tensor x = ones({2, 3});
  TF_CHECK_THROWS_WITH(pad(x, {{1, 1}, {3, 0}}, "REFLECT"), ShapeError,
                       "pad: REFLECT padding {3, 0} of dimension 1 is too large for input [2,3]: REFLECT pads at most 2 "
                       "on each side of a dimension of size 3");
  TF_CHECK_THROWS_WITH(pad(x, {{3, 0}, {0, 0}}, "SYMMETRIC"), ShapeError,
                       "pad: SYMMETRIC padding {3, 0} of dimension 0 is too large for input [2,3]: SYMMETRIC pads at "
                       "most 2");
  TF_CHECK_THROWS_WITH(pad(x, {{1, 1}}, "CONSTANT"), ShapeError,
                       "pad: paddings has 1 pairs for input [2,3] of rank 2; give one {before, after} pair per "
                       "dimension");
  TF_CHECK_THROWS_WITH(pad(x, {{0, -1}, {0, 0}}), ValueError,
                       "pad: paddings must be >= 0, got {0, -1} for dimension 0 of input [2,3]");
  TF_CHECK_THROWS_WITH(pad(x, {{1, 1}, {1, 1}}, "WRAP"), ValueError,
                       "pad: unknown mode 'WRAP'; use \"CONSTANT\", \"REFLECT\" or \"SYMMETRIC\"");
  // slice's gradient is a Pad of zeros.
  tft::check_close(grad_of_sum([](const Tensor& t) { return slice(t, {1, 0}, {1, 2}); }, zeros({3, 2}, float64)),
                   {0, 0, 1, 1, 0, 0}, 0, 0);
}

// ---------------------------------------------------------------------------- unsorted_segment_sum

BOOST_AUTO_TEST_CASE(unsorted_segment_sum_values_against_numpy) {
  // d = np.arange(1, 13.).reshape(4, 3); ids = [2, 0, -1, 2]; out = np.zeros((3, 3))
  // for r, i in enumerate(ids): out[i] += d[r] if i >= 0     (a negative id drops its row)
  Tensor d = reshape(arange(1, 13, 1, float64), {4, 3});
  Tensor s = unsorted_segment_sum(d, tensor({2, 0, -1, 2}, int32), 3);
  BOOST_TEST(s.shape() == Shape({3, 3}));
  tft::check_close(s, {4, 5, 6, 0, 0, 0, 11, 13, 15}, 0, 0);
  // d2 = np.arange(1, 13.).reshape(2, 3, 2); ids2 = [[1, 0, 1], [3, 3, 0]]
  // out2 = np.zeros((4, 2)); np.add.at(out2, ids2, d2)
  Tensor d2 = reshape(arange(1, 13, 1, float64), {2, 3, 2});
  Tensor s2 = unsorted_segment_sum(d2, tensor({{1, 0, 1}, {3, 3, 0}}, int64), 4);
  BOOST_TEST(s2.shape() == Shape({4, 2}));
  tft::check_close(s2, {14, 16, 6, 8, 0, 0, 16, 18}, 0, 0);
  // Integers; ids of all of data's shape (scalar rows); no segments at all.
  Tensor n = unsorted_segment_sum(tensor({{1, 2}, {3, 4}}, int32), tensor({{0, 1}, {1, 1}}, int32), 2);
  BOOST_TEST(n.dtype() == int32);
  tft::check_close(n, {1, 9}, 0, 0);
  BOOST_TEST(unsorted_segment_sum(ones({3, 2}), tensor({-1, -1, -1}, int32), 0).shape() == Shape({0, 2}));
}

BOOST_AUTO_TEST_CASE(unsorted_segment_sum_gradient_gathers) {
  Tensor ids = tensor({2, 0, -1, 2}, int64);
  // d sum(w * s) / d data[r] = w[ids[r]], zero for a dropped row. w = pattern((3, 3), 0.5, 0.25)
  tft::check_close(weighted_grad([&](const Tensor& t) { return unsorted_segment_sum(t, ids, 3); }, zeros({4, 3}, float64)),
                   {4.75, 2.75, 0.75, 0.25, 3.75, 1.75, 0, 0, 0, 4.75, 2.75, 0.75}, 0, 0);
  tft::check_grad([&](std::span<const Tensor> in) { return square(unsorted_segment_sum(in[0], ids, 3)); },
                  {tft::rand64({4, 3})});
  tft::check_grad([](std::span<const Tensor> in) { return square(unsorted_segment_sum(in[0], tensor({1, 1, 0}, int32), 2)); },
                  {tft::rand64({3})});
  tft::check_grad([](std::span<const Tensor> in) {
    return square(unsorted_segment_sum(in[0], tensor({{1, 0, 1}, {3, 3, 0}}, int64), 5));
  }, {tft::rand64({2, 3, 2})});
  tft::check_grad([](std::span<const Tensor> in) { return square(unsorted_segment_sum(in[0], scalar(1, int64), 2)); },
                  {tft::rand64({1, 1})});
  tft::check_grad([](std::span<const Tensor> in) { return unsorted_segment_sum(in[0], tensor({-1, -1}, int32), 0); },
                  {tft::rand64({2, 2})});
}

BOOST_AUTO_TEST_CASE(gather_gradient_along_inner_axes) {
  // gather's gradient is unsorted_segment_sum with the gathered axis moved to the front and back.
  Tensor idx = tensor({{1, 1}, {0, 2}}, int64);
  // p = np.zeros((2, 3, 2)); np.add.at(p, (slice(None), idx), 1) counts each position
  tft::check_close(grad_of_sum([&](const Tensor& t) { return gather(t, idx, 1); }, zeros({2, 3, 2}, float64)),
                   {1, 1, 2, 2, 1, 1, 1, 1, 2, 2, 1, 1}, 0, 0);
  tft::check_grad([&](std::span<const Tensor> in) { return square(gather(in[0], idx, 1)); }, {tft::rand64({2, 3, 2})});
  tft::check_grad([](std::span<const Tensor> in) { return square(gather(in[0], tensor({2, 0, 2}, int32), 2)); },
                  {tft::rand64({2, 2, 3})});
  tft::check_grad([](std::span<const Tensor> in) { return square(gather(in[0], scalar(1, int64), 1)); },
                  {tft::rand64({3, 2, 2})});
}

BOOST_AUTO_TEST_CASE(unsorted_segment_sum_errors) {
  TF_CHECK_THROWS_WITH(unsorted_segment_sum(ones({4, 2}), tensor({0, 1, 1}, int32), 2), ShapeError,
                       "unsorted_segment_sum: segment_ids [3] do not match data [4,2]: their shape must be the start "
                       "of data's (one id for each row of data)");
  TF_CHECK_THROWS_WITH(unsorted_segment_sum(ones({2}), tensor({{0, 1}}, int32), 2), ShapeError,
                       "segment_ids [1,2] do not match data [2]");
  TF_CHECK_THROWS_WITH(unsorted_segment_sum(ones({3, 2}), tensor({0, 7, 1}, int64), 5), ValueError,
                       "unsorted_segment_sum: segment id 7 (at position 1) is out of range for num_segments 5; ids "
                       "must be < num_segments");
  TF_CHECK_THROWS_WITH(unsorted_segment_sum(ones({3}), tensor({0, 0, 0}, int32), -1), ValueError,
                       "unsorted_segment_sum: num_segments must be >= 0, got -1");
  TF_CHECK_THROWS_WITH(unsorted_segment_sum(ones({3}), ones({3}), 2), DTypeError,
                       "unsorted_segment_sum: segment_ids must be int32 or int64, got float32 [3]");
  TF_CHECK_THROWS_WITH(unsorted_segment_sum(ones({3}, bool_), tensor({0, 0, 0}, int32), 2), DTypeError,
                       "unsorted_segment_sum: expected a numeric tensor, got bool [3]");
}

// ---------------------------------------------------------------------------- band_part

BOOST_AUTO_TEST_CASE(band_part_values_against_numpy) {
  // m = np.arange(1, 17.).reshape(4, 4); r = np.arange(1, 13.).reshape(3, 4)
  // np.tril(m), np.triu(np.tril(m, 2), -1), np.triu(m), np.triu(np.tril(r, 0), 0), np.triu(np.tril(r, 0), -1)
  Tensor m = reshape(arange(1, 17, 1, float64), {4, 4}), r = reshape(arange(1, 13, 1, float64), {3, 4});
  tft::check_close(linalg::band_part(m, -1, 0), {1, 0, 0, 0, 5, 6, 0, 0, 9, 10, 11, 0, 13, 14, 15, 16}, 0, 0);
  tft::check_close(linalg::band_part(m, 1, 2), {1, 2, 3, 0, 5, 6, 7, 8, 0, 10, 11, 12, 0, 0, 15, 16}, 0, 0);
  tft::check_close(linalg::band_part(m, 0, -1), {1, 2, 3, 4, 0, 6, 7, 8, 0, 0, 11, 12, 0, 0, 0, 16}, 0, 0);
  tft::check_close(linalg::band_part(m, -1, -1), m.to_vector<double>(), 0, 0);
  tft::check_close(linalg::band_part(r, 0, 0), {1, 0, 0, 0, 0, 6, 0, 0, 0, 0, 11, 0}, 0, 0);
  tft::check_close(linalg::band_part(r, 1, 0), {1, 0, 0, 0, 5, 6, 0, 0, 0, 10, 11, 0}, 0, 0);
  // A batch of matrices, each masked alike; a causal mask of bools.
  Tensor batch = linalg::band_part(stack({r, r * 2.0}), 1, 0);
  BOOST_TEST(batch.shape() == Shape({2, 3, 4}));
  tft::check_close(slice(batch, {1, 0, 0}, {1, 3, 4}), {2, 0, 0, 0, 10, 12, 0, 0, 0, 20, 22, 0}, 0, 0);
  Tensor causal = linalg::band_part(ones({3, 3}, bool_), -1, 0);
  BOOST_TEST(causal.dtype() == bool_);
  tft::check_close(causal, {1, 0, 0, 1, 1, 0, 1, 1, 1}, 0, 0);
}

BOOST_AUTO_TEST_CASE(band_part_gradcheck) {
  // The gradient keeps the same band.
  tft::check_close(grad_of_sum([](const Tensor& t) { return linalg::band_part(t, 0, 1); }, zeros({3, 3}, float64)),
                   {1, 1, 0, 0, 1, 1, 0, 0, 1}, 0, 0);
  const std::vector<std::pair<std::int64_t, std::int64_t>> bands = {{-1, 0}, {0, -1}, {1, 1}, {0, 0}, {-1, -1}};
  for (const Shape& s : {Shape{1, 1}, Shape{3, 4}, Shape{4, 2}, Shape{2, 3, 3}})
    for (const auto& [lo, up] : bands)
      tft::check_grad([lo = lo, up = up](std::span<const Tensor> in) { return square(linalg::band_part(in[0], lo, up)); },
                      {tft::rand64(s)});
}

BOOST_AUTO_TEST_CASE(band_part_errors) {
  TF_CHECK_THROWS_WITH(linalg::band_part(ones({4}), -1, 0), ShapeError,
                       "band_part: input must be a matrix or a batch of them (rank >= 2), got [4]");
  TF_CHECK_THROWS_WITH(linalg::band_part(ones({3, 4}), 4, 0), ValueError,
                       "band_part: num_lower 4 is more than the 3 rows of input [3,4]; give at most 3, or -1 to keep "
                       "the whole lower triangle");
  TF_CHECK_THROWS_WITH(linalg::band_part(ones({3, 4}), 0, 5), ValueError,
                       "band_part: num_upper 5 is more than the 4 columns of input [3,4]");
}

BOOST_AUTO_TEST_SUITE_END()
