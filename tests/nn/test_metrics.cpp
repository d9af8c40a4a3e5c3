// zero_fraction and confusion_matrix (TensorFlow's documented example), and their errors.
#include <cmath>

#include "helpers.h"
#include "tapeflow/nn/metrics.h"

using namespace tapeflow;

BOOST_AUTO_TEST_SUITE(metrics)

BOOST_AUTO_TEST_CASE(zero_fraction_values) {
  Tensor z = nn::zero_fraction(tensor({0, 1, 0, 2}));
  BOOST_TEST(z.dtype() == float32);
  BOOST_TEST(z.shape() == Shape({}));
  BOOST_TEST(z.item() == 0.5);
  BOOST_TEST(nn::zero_fraction(tensor({{0, 0, 0}, {0, -1, 0}}, int32)).item() == 5.0 / 6.0, boost::test_tools::tolerance(1e-6));
  BOOST_TEST(nn::zero_fraction(zeros({3, 3}, float64)).item() == 1.0);
  BOOST_TEST(nn::zero_fraction(ones({7}, int64)).item() == 0.0);
  BOOST_TEST(nn::zero_fraction(greater(tensor({1, 2, 3}), scalar(1.5))).item() == 1.0 / 3.0,
             boost::test_tools::tolerance(1e-6));
  BOOST_TEST(nn::zero_fraction(nn::relu(tensor({-1, -0.5, 0.5, 1}))).item() == 0.5);
  BOOST_TEST(std::isnan(nn::zero_fraction(zeros({0})).item()));
  TF_CHECK_THROWS_WITH(nn::zero_fraction(Tensor()), ValueError, "zero_fraction", "undefined");
}

BOOST_AUTO_TEST_CASE(confusion_matrix_values) {
  // tf.confusion_matrix's documented example.
  Tensor labels = from_vector<std::int32_t>({1, 2, 4}), predictions = from_vector<std::int32_t>({2, 2, 4});
  Tensor m = nn::confusion_matrix(labels, predictions, 5);
  BOOST_TEST(m.dtype() == int32);
  BOOST_TEST(m.shape() == Shape({5, 5}));
  std::vector<std::int32_t> expected{0, 0, 0, 0, 0,  //
                                     0, 0, 1, 0, 0,  //
                                     0, 0, 1, 0, 0,  //
                                     0, 0, 0, 0, 0,  //
                                     0, 0, 0, 0, 1};
  BOOST_TEST(m.to_vector<std::int32_t>() == expected);
  // num_classes inferred as max + 1, int64 inputs, rows = labels and columns = predictions.
  Tensor m2 = nn::confusion_matrix(from_vector<std::int64_t>({0, 0, 1, 2, 2, 2}),
                                   from_vector<std::int64_t>({0, 1, 1, 2, 0, 2}));
  BOOST_TEST(m2.shape() == Shape({3, 3}));
  BOOST_TEST(m2.to_vector<std::int32_t>() == (std::vector<std::int32_t>{1, 1, 0, 0, 1, 0, 1, 0, 2}));
  // Mixed int32 / int64, and a larger num_classes than the data needs.
  Tensor m3 = nn::confusion_matrix(from_vector<std::int32_t>({1}), from_vector<std::int64_t>({0}), 3);
  BOOST_TEST(m3.to_vector<std::int32_t>() == (std::vector<std::int32_t>{0, 0, 0, 1, 0, 0, 0, 0, 0}));
  // Empty inputs.
  BOOST_TEST(nn::confusion_matrix(zeros({0}, int32), zeros({0}, int32), 2).to_vector<std::int32_t>() ==
             (std::vector<std::int32_t>{0, 0, 0, 0}));
  BOOST_TEST(nn::confusion_matrix(zeros({0}, int32), zeros({0}, int32)).shape() == Shape({0, 0}));
  // The trace counts the correct predictions.
  BOOST_TEST(reduce_sum(m2).item() == 6.0);
}

BOOST_AUTO_TEST_CASE(confusion_matrix_errors) {
  Tensor l3 = from_vector<std::int32_t>({0, 1, 2});
  TF_CHECK_THROWS_WITH(nn::confusion_matrix(l3, from_vector<std::int32_t>({0, 1}), 3), ShapeError, "confusion_matrix",
                       "labels [3]", "predictions [2]", "same length");
  TF_CHECK_THROWS_WITH(nn::confusion_matrix(l3, from_vector<std::int32_t>({0, 5, 1}), 5), ValueError,
                       "confusion_matrix", "predictions", "value 5", "num_classes = 5");
  TF_CHECK_THROWS_WITH(nn::confusion_matrix(from_vector<std::int64_t>({0, -1, 2}), l3, 3), ValueError, "labels",
                       "value -1", "num_classes = 3");
  TF_CHECK_THROWS_WITH(nn::confusion_matrix(l3, l3, 2), ValueError, "labels", "value 2", "num_classes = 2");
  TF_CHECK_THROWS_WITH(nn::confusion_matrix(tensor({0, 1, 2}), l3, 3), DTypeError, "labels", "float32", "int32 or int64");
  TF_CHECK_THROWS_WITH(nn::confusion_matrix(reshape(l3, {1, 3}), l3, 3), ShapeError, "labels", "1-D", "[1,3]");
  TF_CHECK_THROWS_WITH(nn::confusion_matrix(l3, l3, -2), ValueError, "num_classes", "-2");
}

BOOST_AUTO_TEST_SUITE_END()
