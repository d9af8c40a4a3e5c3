#include <tapeflow/eigen.h>

#include "helpers.h"

using namespace tapeflow;

BOOST_AUTO_TEST_SUITE(eigen_views)

BOOST_AUTO_TEST_CASE(maps_share_the_tensor_data) {
  Tensor t = tensor({{1, 2, 3}, {4, 5, 6}});
  auto m = eigen::matrix<float>(t);
  BOOST_TEST(m.rows() == 2);
  BOOST_TEST(m(1, 0) == 4.0f);
  m(0, 2) = 30;
  BOOST_TEST(t.to_vector<float>()[2] == 30.0f);
  const Tensor& c = t;
  BOOST_TEST(eigen::array<float>(c).sum() == 1 + 2 + 30 + 4 + 5 + 6);
  TF_CHECK_THROWS_WITH(eigen::matrix<float>(ones({2, 2, 2})), ShapeError, "[2,2,2]");
  TF_CHECK_THROWS_WITH(eigen::matrix<double>(t), DTypeError, "float32", "float64");
}

BOOST_AUTO_TEST_SUITE_END()
