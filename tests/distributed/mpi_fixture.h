#pragma once
// For the suites that need two processes (test_mpi_*.cpp): CTest runs them under
// `mpirun -np 2` with TAPEFLOW_TEST_RANKS=2 (tests/CMakeLists.txt); in a plain run of
// tapeflow_tests they are skipped. Every test calls the same collectives in the same order on
// both ranks and checks with BOOST_TEST (never BOOST_REQUIRE, which would leave one rank behind).
#include <cstdlib>

#include "helpers.h"
#include "tapeflow/distributed.h"

namespace tft {

/// The suites' precondition: started by CTest under mpirun; starts MPI.
inline boost::test_tools::assertion_result under_mpirun(boost::unit_test::test_unit_id) {
  if (!std::getenv("TAPEFLOW_TEST_RANKS")) {
    boost::test_tools::assertion_result skip(false);
    skip.message() << "runs under mpirun -np 2 (as CTest registers it, with TAPEFLOW_TEST_RANKS=2)";
    return skip;
  }
  tapeflow::distributed::init();
  return true;
}

/// The ranks CTest started.
inline int expected_ranks() { return std::atoi(std::getenv("TAPEFLOW_TEST_RANKS")); }

/// True when `t` is bitwise the same on every rank (compared through min and max over the ranks).
inline bool same_on_all_ranks(const tapeflow::Tensor& t) {
  using tapeflow::distributed::ReduceOp;
  const tapeflow::Tensor lo = tapeflow::distributed::allreduce(t, ReduceOp::min);
  const tapeflow::Tensor hi = tapeflow::distributed::allreduce(t, ReduceOp::max);
  return lo.to_vector<double>() == hi.to_vector<double>() && lo.to_vector<double>() == t.to_vector<double>();
}

}  // namespace tft
