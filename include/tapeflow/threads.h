#pragma once
/// Threads used by tapeflow's kernels (OpenMP and Eigen's GEMM). Default: the environment
/// variable TAPEFLOW_NUM_THREADS when set, else all cores.
namespace tapeflow {

void set_num_threads(int n);
int get_num_threads();

}  // namespace tapeflow
