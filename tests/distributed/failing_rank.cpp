// A distributed program whose rank 1 fails while rank 0 waits for it in a collective: run by
// failing_rank.cmake under mpirun, which checks that the whole job ends (no hang) with rank 1's
// message and a non-zero exit.
//   failing_rank escape   the exception escapes main (init()'s terminate handler ends the job)
//   failing_rank abort    main catches it and calls distributed::abort
//   failing_rank return   main catches it, prints it and returns 1 (as the samples do)
#include <cstdio>
#include <string>

#include "tapeflow/distributed.h"
#include "tapeflow/error.h"
#include "tapeflow/tensor.h"

namespace dist = tapeflow::distributed;

static void train() {
  if (dist::rank() == 1) throw tapeflow::ValueError("the data of rank 1 is corrupt (on purpose)");
  // Rank 0 goes on into a collective that rank 1 never joins.
  dist::allreduce(tapeflow::scalar(1.0), dist::ReduceOp::sum);
  dist::barrier();
}

int main(int argc, char** argv) {
  dist::init(argc, argv);
  const std::string mode = argc > 1 ? argv[1] : "escape";
  if (mode == "abort") {
    try {
      train();
    } catch (const std::exception& e) {
      dist::abort(e.what());
    }
  } else if (mode == "return") {
    try {
      train();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "error: %s\n", e.what());
      return 1;
    }
  } else {
    train();
  }
  std::printf("rank %d: finished\n", dist::rank());
  return 0;
}
