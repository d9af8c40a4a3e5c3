#pragma once
/// Threads used by tapeflow's kernels (OpenMP teams, GEMM included). Default: the environment
/// variable TAPEFLOW_NUM_THREADS when set, else the CPUs the process may run on (all cores, or
/// those of its affinity set: taskset, a container's cpuset). With adaptive threads (the default),
/// this is the most a team uses: see set_adaptive_threads.
namespace tapeflow {

void set_num_threads(int n);
int get_num_threads();

/// Whether the number of threads follows the machine's load. Every parallel kernel ends when its
/// last thread does; on a machine where other processes want the cores, the OS deschedules one
/// of the team's threads for milliseconds at a time and the others wait for it, so that a team
/// of 2 beside one busy process on 2 cores runs slower than 1 thread would. With this on (the
/// default; the environment variable TAPEFLOW_ADAPTIVE_THREADS=0 turns it off), a monitor thread
/// measures every 100 ms how much of the CPUs this process may use other processes took (Linux:
/// /proc/stat against the process's own CPU time) and teams use the CPUs left free, at least
/// one, at most get_num_threads(). Results do not depend on the number of threads, so they do
/// not depend on the load either. Off, teams always have get_num_threads() threads.
void set_adaptive_threads(bool on);
bool get_adaptive_threads();

/// The number of threads the next parallel kernel will use (starts the monitor when adaptive).
int threads_in_use();

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
