#pragma once
/// Threads used by tapeflow's kernels (OpenMP teams, GEMM included). Default: the environment
/// variable TAPEFLOW_NUM_THREADS when set, else all cores.
namespace tapeflow {

void set_num_threads(int n);
int get_num_threads();

/// Whether tapeflow's kernels flush denormal (subnormal) floats to zero, as TensorFlow's do
/// (torch.set_flush_denormal in PyTorch). Default: on. Values below about 1.2e-38 (float) then
/// read and compute as 0; without it, arithmetic on them is many times slower on x86, which
/// slows training down once, say, Adam's first moments of weights that get no gradient decay
/// below that (after about 700 steps). The mode is set in the threads that run tapeflow's
/// kernels: the OpenMP workers and the calling thread, where it stays set after the call. Returns
/// false (and changes nothing) where the CPU has no such mode (it is set through x86's MXCSR).
bool set_flush_denormal(bool on);
bool get_flush_denormal();

}  // namespace tapeflow
