// The MPI calls of tapeflow::distributed (the one file that includes <mpi.h>). Built with
// TAPEFLOW_WITH_MPI=1 when CMake found MPI; otherwise the same functions describe a job of one
// process and never communicate.
#include "distributed/comm.h"

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <fmt/format.h>

#include "tapeflow/error.h"

#if TAPEFLOW_WITH_MPI
#include <mpi.h>
#endif

namespace tapeflow::distributed {

namespace {

struct World {
  bool initialized = false;
  bool started_mpi = false;  // tapeflow called MPI_Init, so it calls MPI_Finalize
  bool finalized = false;
  int rank = 0, size = 1, local_rank = 0, local_size = 1;
#if TAPEFLOW_WITH_MPI
  MPI_Comm comm = MPI_COMM_NULL;  // a duplicate of MPI_COMM_WORLD: our traffic never meets the program's
#endif
};

World& world() {
  static World w;
  return w;
}

std::atomic<std::int64_t> g_allreduce_calls{0};

}  // namespace

bool mpi_built() {
#if TAPEFLOW_WITH_MPI
  return true;
#else
  return false;
#endif
}

std::int64_t allreduce_calls() { return g_allreduce_calls.load(); }

namespace comm {

namespace {

#if TAPEFLOW_WITH_MPI

// MPI errors on our communicator are returned (MPI_ERRORS_RETURN) and become exceptions.
void check(int code, const char* call) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING] = {};
  int length = 0;
  MPI_Error_string(code, text, &length);
  throw IOError(fmt::format("distributed: {} failed on rank {}: {}", call, world().rank, std::string(text, length)));
}

MPI_Datatype mpi_type(DType dtype) {
  switch (dtype) {
    case DType::Float32: return MPI_FLOAT;
    case DType::Float64: return MPI_DOUBLE;
    case DType::Int32: return MPI_INT32_T;
    case DType::Int64: return MPI_INT64_T;
    case DType::UInt8: return MPI_UINT8_T;
    case DType::Bool: return MPI_UINT8_T;  // one byte, 0 or 1: min and max are and/or
  }
  throw DTypeError(fmt::format("distributed: no MPI type for dtype {}", static_cast<int>(dtype)));
}

MPI_Op mpi_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum: return MPI_SUM;
    case ReduceOp::min: return MPI_MIN;
    case ReduceOp::max: return MPI_MAX;
    case ReduceOp::average: break;
  }
  throw ValueError("distributed: the average is a sum divided by size(); comm::allreduce takes sum, min or max");
}

MPI_Comm communicator() {
  World& w = world();
  if (w.finalized)
    throw ValueError("distributed: MPI is finalized (the program is exiting); no collective can run any more");
  return w.comm;
}

#endif

// One process: nothing to exchange.
bool alone() { return world().size == 1; }

}  // namespace

bool is_initialized() { return world().initialized; }

int launcher_size() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"})
    if (const char* value = std::getenv(name)) {
      const int n = std::atoi(value);
      if (n > 0) return n;
    }
  return 1;
}

bool initialize([[maybe_unused]] int* argc, [[maybe_unused]] char*** argv) {
  World& w = world();
  if (w.initialized) return false;
#if TAPEFLOW_WITH_MPI
  int running = 0, finalized = 0;
  MPI_Initialized(&running);
  MPI_Finalized(&finalized);
  if (finalized) throw ValueError("distributed::init: MPI was already finalized; MPI cannot start twice in a process");
  if (!running) {
    int provided = 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS)
      throw IOError("distributed::init: MPI_Init_thread failed (is the program started by mpirun?)");
    w.started_mpi = true;
  }
  MPI_Comm_dup(MPI_COMM_WORLD, &w.comm);
  MPI_Comm_set_errhandler(w.comm, MPI_ERRORS_RETURN);
  MPI_Comm_rank(w.comm, &w.rank);
  MPI_Comm_size(w.comm, &w.size);
  MPI_Comm local = MPI_COMM_NULL;
  check(MPI_Comm_split_type(w.comm, MPI_COMM_TYPE_SHARED, w.rank, MPI_INFO_NULL, &local), "MPI_Comm_split_type");
  MPI_Comm_rank(local, &w.local_rank);
  MPI_Comm_size(local, &w.local_size);
  MPI_Comm_free(&local);
#endif
  w.initialized = true;
  return w.started_mpi;
}

void finalize() {
#if TAPEFLOW_WITH_MPI
  World& w = world();
  if (!w.initialized || w.finalized) return;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) {
    MPI_Comm_free(&w.comm);
    if (w.started_mpi) MPI_Finalize();
  }
  w.finalized = true;
#endif
}

int rank() { return world().rank; }
int size() { return world().size; }
int local_rank() { return world().local_rank; }
int local_size() { return world().local_size; }

void abort_job(int errorcode) {
  std::fflush(stdout);
  std::fflush(stderr);
#if TAPEFLOW_WITH_MPI
  const World& w = world();
  int running = 0, finalized = 0;
  MPI_Initialized(&running);
  MPI_Finalized(&finalized);
  if (running && !finalized) MPI_Abort(w.initialized ? w.comm : MPI_COMM_WORLD, errorcode);
#endif
  // No MPI: end this process at once, without running destructors (as MPI_Abort does), which
  // is also what is safe from a std::terminate handler.
  std::_Exit(errorcode);
}

void barrier() {
  if (alone()) return;
#if TAPEFLOW_WITH_MPI
  check(MPI_Barrier(communicator()), "MPI_Barrier");
#endif
}

void broadcast([[maybe_unused]] void* data, std::size_t bytes, [[maybe_unused]] int root) {
  if (alone() || bytes == 0) return;
#if TAPEFLOW_WITH_MPI
  MPI_Comm c = communicator();
  auto* p = static_cast<char*>(data);
  for (std::size_t done = 0; done < bytes;) {
    const int n = static_cast<int>(std::min<std::size_t>(bytes - done, INT_MAX));
    check(MPI_Bcast(p + done, n, MPI_BYTE, root, c), "MPI_Bcast");
    done += static_cast<std::size_t>(n);
  }
#endif
}

void allreduce([[maybe_unused]] void* data, std::int64_t count, [[maybe_unused]] DType dtype,
               [[maybe_unused]] ReduceOp op) {
  if (alone() || count == 0) return;
#if TAPEFLOW_WITH_MPI
  MPI_Comm c = communicator();
  const MPI_Datatype type = mpi_type(dtype);
  const MPI_Op mop = mpi_op(op);
  auto* p = static_cast<char*>(data);
  const std::size_t element = dtype_size(dtype);
  for (std::int64_t done = 0; done < count;) {
    const int n = static_cast<int>(std::min<std::int64_t>(count - done, INT_MAX));
    ++g_allreduce_calls;
    check(MPI_Allreduce(MPI_IN_PLACE, p + static_cast<std::size_t>(done) * element, n, type, mop, c),
          "MPI_Allreduce");
    done += n;
  }
#endif
}

}  // namespace comm
}  // namespace tapeflow::distributed
