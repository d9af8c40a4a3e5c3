#pragma once
// Internal: the MPI calls of tapeflow::distributed, behind plain functions so that only comm.cpp
// includes <mpi.h> (and only it is compiled with TAPEFLOW_WITH_MPI). Without MPI, or in a job of
// one process, every collective here returns at once without communicating.
//
// Buffers are contiguous arrays of one tapeflow dtype; counts are elements (any size: calls are
// split into pieces of at most INT_MAX elements, MPI's count type).
#include <cstddef>
#include <cstdint>

#include "tapeflow/distributed.h"
#include "tapeflow/dtype.h"

namespace tapeflow::distributed::comm {

/// MPI (or, without it, nothing) is set up: rank/size are known.
bool is_initialized();
/// MPI_Init_thread unless MPI is running already; reads rank, size and the local rank/size.
/// Returns false when tapeflow did not start MPI (it was running already, or there is no MPI).
bool initialize(int* argc, char*** argv);
/// MPI_Finalize, when tapeflow started MPI and it is not finalized yet.
void finalize();
/// The processes of the job as mpirun's environment announces them (OMPI_COMM_WORLD_SIZE,
/// PMI_SIZE), or 1 when the process was not started by a launcher.
int launcher_size();

int rank();
int size();
int local_rank();
int local_size();

/// MPI_Abort(errorcode) when MPI is running, else std::exit(errorcode).
[[noreturn]] void abort_job(int errorcode);

void barrier();
/// `bytes` bytes at `data`, from root to every rank.
void broadcast(void* data, std::size_t bytes, int root);
/// In place over all ranks; op is sum, min or max (not average); dtype any of tapeflow's. Each
/// MPI_Allreduce call increments allreduce_calls().
void allreduce(void* data, std::int64_t count, DType dtype, ReduceOp op);

}  // namespace tapeflow::distributed::comm
