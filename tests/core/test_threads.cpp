#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/load.h"
#include "ops/kernels.h"
#include "helpers.h"

using namespace tapeflow;

BOOST_AUTO_TEST_SUITE(threads)

BOOST_AUTO_TEST_CASE(set_and_get) {
  const int before = get_num_threads();
  BOOST_TEST(before >= 1);
  set_num_threads(1);
  BOOST_TEST(get_num_threads() == 1);
  // Results do not depend on the number of threads (a large element-wise op and a GEMM).
  Generator gen(3);
  Tensor a = random_uniform({300, 400}, -1, 1, float32, &gen), b = random_uniform({400, 200}, -1, 1, float32, &gen);
  std::vector<float> one = (exp(a) * 2.0f).to_vector<float>();
  std::vector<float> mm1 = matmul(a, b).to_vector<float>();
  set_num_threads(2);
  BOOST_TEST(get_num_threads() == 2);
  // Equal up to rounding: chunk boundaries move between Eigen's vectorised and scalar paths.
  std::vector<float> two = (exp(a) * 2.0f).to_vector<float>();
  for (std::size_t i = 0; i < one.size(); ++i) BOOST_REQUIRE_CLOSE(one[i], two[i], 1e-4);
  std::vector<float> mm2 = matmul(a, b).to_vector<float>();
  for (std::size_t i = 0; i < mm1.size(); ++i) BOOST_REQUIRE_SMALL(mm1[i] - mm2[i], 1e-4f);  // |values| ~ 10
  set_num_threads(before);
  TF_CHECK_THROWS_WITH(set_num_threads(0), ValueError, "set_num_threads", ">= 1", "0");
}

// Run by CTest twice: as part of the suite, and as core.threads_env with TAPEFLOW_NUM_THREADS=1.
// The default: TAPEFLOW_NUM_THREADS, else the CPUs of the process's affinity set (ctest runs this
// test also under `taskset -c 0`, on one CPU of a larger machine, where a team of all the
// machine's cores would wait at every barrier for threads that share that CPU).
BOOST_AUTO_TEST_CASE(default_comes_from_the_environment) {
  cpu_set_t set;
  CPU_ZERO(&set);
  BOOST_REQUIRE(::sched_getaffinity(0, sizeof set, &set) == 0);
  const int allowed = CPU_COUNT(&set);
  BOOST_TEST(tapeflow::detail::usable_cpus() == allowed);
  BOOST_TEST(tapeflow::detail::FixedRuns::cores() == allowed);
  if (const char* env = std::getenv("TAPEFLOW_NUM_THREADS")) {
    BOOST_TEST(get_num_threads() == std::atoi(env));
  } else {
    BOOST_TEST(get_num_threads() == allowed);
  }
}

// Denormal floats (below about 1.2e-38) become 0 in kernels by default, as in TensorFlow, in the
// calling thread (a small op) and in the OpenMP workers (a large one).
BOOST_AUTO_TEST_CASE(denormals_are_flushed_to_zero_by_default) {
  if (!set_flush_denormal(true)) return;  // not an x86 CPU: nothing to test
  BOOST_TEST(get_flush_denormal());
  const float tiny = 1e-30f, scale = 1e-10f;  // their product, 1e-40, is denormal
  BOOST_TEST((scalar(tiny) * scale).item() == 0.0);
  BOOST_TEST(reduce_max(full({1000, 1000}, tiny) * scale).item() == 0.0);
  // A denormal input reads as 0 too.
  std::vector<float> denormal{1e-40f, 1.0f};
  BOOST_TEST((from_vector(denormal, {2}) * 2.0f).to_vector<float>()[0] == 0.0f);

  set_flush_denormal(false);
  BOOST_TEST(!get_flush_denormal());
  BOOST_CHECK_CLOSE((scalar(tiny) * scale).item(), 1e-40, 1.0);
  BOOST_CHECK_CLOSE(reduce_max(full({1000, 1000}, tiny) * scale).item(), 1e-40, 1.0);
  set_flush_denormal(true);
}

// A result must not depend on how many threads computed it (so that a thread count that follows
// the machine's load never changes a model's outputs): products whose depth blocking once followed
// each thread's share (100x2450x1200 differed by 1.4e-4 between 1 and 2 threads), the packed
// right operand of the recurrent layers, a convolution's passes (oneDNN's where built with it),
// batch norm's batch statistics.
BOOST_AUTO_TEST_CASE(results_do_not_depend_on_the_thread_count) {
  const int before = tapeflow::get_num_threads();
  tapeflow::manual_seed(5);
  const tapeflow::Tensor a = tapeflow::random_normal({100, 2450}), b = tapeflow::random_normal({2450, 1200});
  const tapeflow::Tensor xp = tapeflow::random_normal({4, 3, 4 * 300}), w = tapeflow::random_normal({300, 4 * 300}, 0, 0.05);
  const tapeflow::nn::LSTMState s{tapeflow::zeros({3, 300}), tapeflow::zeros({3, 300})};
  const tapeflow::Tensor x = tapeflow::random_normal({64, 14, 14, 16}, 0, 1), f = tapeflow::random_normal({5, 5, 16, 16});
  // Fixed teams: on a loaded machine adaptive threads could make the "2" a 1.
  tapeflow::set_adaptive_threads(false);
  auto run = [&](int threads) {
    tapeflow::set_num_threads(threads);
    tapeflow::Tensor xv = x.clone().requires_grad_(), fv = f.clone().requires_grad_();
    tapeflow::Tensor y = tapeflow::nn::conv2d(xv, fv, {1, 1}, tapeflow::nn::Padding::Same);
    tapeflow::reduce_sum(y * y).backward();
    // In float64, where a different order of the statistics' double sums shows.
    const tapeflow::nn::BatchNormOutput bn = tapeflow::nn::fused_batch_norm(
        tapeflow::cast(y, tapeflow::float64), tapeflow::Tensor(), tapeflow::Tensor(), tapeflow::zeros({16}, tapeflow::float64),
        tapeflow::ones({16}, tapeflow::float64));
    return std::vector<tapeflow::Tensor>{tapeflow::matmul(a, b), tapeflow::nn::lstm_sequence(xp, s, w).h, y, fv.grad(), xv.grad(),
                                         bn.y, bn.batch_mean, bn.batch_variance};
  };
  const std::vector<tapeflow::Tensor> one = run(1), two = run(2);
  tapeflow::set_num_threads(before);
  tapeflow::set_adaptive_threads(true);
  for (std::size_t i = 0; i < one.size(); ++i)
    BOOST_TEST(tapeflow::reduce_max(tapeflow::abs(one[i] - two[i])).item<double>() == 0.0,
               "result " << i << " differs between 1 and 2 threads");
}

// The decision of the adaptive thread count: the free CPUs rounded, between 1 and the cap, and
// one more thread only with a margin.
BOOST_AUTO_TEST_CASE(adaptive_thread_count_decision) {
  using tapeflow::detail::adapt_threads;
  BOOST_TEST(adapt_threads(2, 2, 2, 0.02) == 2);  // quiet
  BOOST_TEST(adapt_threads(2, 2, 2, 0.67) == 1);  // 2 threads beside a busy process: it gets 2/3 of a CPU
  BOOST_TEST(adapt_threads(1, 2, 2, 1.00) == 1);  // 1 thread beside it: it gets a whole one; stay
  BOOST_TEST(adapt_threads(1, 2, 2, 0.05) == 2);  // it ended: grow back
  BOOST_TEST(adapt_threads(1, 2, 2, 0.40) == 1);  // 1.6 free: not enough to grow on
  BOOST_TEST(adapt_threads(2, 2, 2, 0.40) == 2);  // ... nor to shrink on
  BOOST_TEST(adapt_threads(2, 2, 2, 3.50) == 1);  // never below one
  BOOST_TEST(adapt_threads(8, 8, 8, 1.00) == 7);  // one busy process on 8 CPUs: 7
  BOOST_TEST(adapt_threads(7, 8, 8, 0.60) == 7);  // 7.4 free: stay
  BOOST_TEST(adapt_threads(7, 8, 8, 0.20) == 8);  // 7.8 free: grow
  BOOST_TEST(adapt_threads(4, 4, 8, 0.00) == 4);  // never above the cap
  BOOST_TEST(adapt_threads(4, 2, 8, 0.00) == 2);  // the cap lowered below the threads in use
  BOOST_TEST(adapt_threads(1, 4, 8, -0.3) == 4);  // a reading below zero (tick rounding) is zero
}

BOOST_AUTO_TEST_CASE(busy_ticks_of_proc_stat) {
  using tapeflow::detail::busy_ticks;
  // user nice system idle iowait irq softirq steal guest guest_nice, as Linux writes them.
  const std::string stat =
      "cpu  300 10 60 9000 5 0 3 2 0 0\n"
      "cpu0 100 0 20 4500 2 0 1 1 0 0\n"
      "cpu1 200 10 40 4500 3 0 2 1 0 0\n"
      "cpu12 7 0 0 10 0 0 0 0 0 0\n"
      "intr 12345 0 0\nctxt 999\nprocs_running 3\n";
  BOOST_TEST(busy_ticks(stat, {0}) == 100 + 20 + 1 + 1);
  BOOST_TEST(busy_ticks(stat, {0, 1}) == 122 + 200 + 10 + 40 + 2 + 1);
  BOOST_TEST(busy_ticks(stat, {12}) == 7);
  BOOST_TEST(busy_ticks(stat, {1, 2}) == -1);                  // no line for CPU 2
  BOOST_TEST(busy_ticks("cpu0 1 2 three\n", {0}) == -1);       // does not parse
  BOOST_TEST(busy_ticks("cpu0 1 2 3 4 5 6 7 8\n", {0}) == 1 + 2 + 3 + 6 + 7 + 8);  // a kernel without guest fields
}

// Beside a busy process, a team uses fewer threads than the cap (the machine may be busier still
// with other tests: it only ever lowers the count); with adaptation off, always the cap.
BOOST_AUTO_TEST_CASE(adaptive_threads_follow_the_load) {
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  const int before = tapeflow::get_num_threads();
  BOOST_TEST(tapeflow::get_adaptive_threads());
  tapeflow::set_adaptive_threads(false);
  tapeflow::set_num_threads(3);
  BOOST_TEST(tapeflow::threads_in_use() == 3);
  tapeflow::set_num_threads(std::max(cores, 1));
  tapeflow::set_adaptive_threads(true);
  const int quiet = tapeflow::threads_in_use();
  BOOST_TEST(quiet >= 1);
  BOOST_TEST(quiet <= tapeflow::get_num_threads());
  if (cores >= 2) {
    std::fflush(nullptr);
    const pid_t busy = ::fork();
    BOOST_REQUIRE(busy >= 0);
    if (busy == 0) {
      volatile double x = 1;
      for (;;) x = x * 1.0000001 + 1e-9;
    }
    int seen = cores;
    for (int i = 0; i < 40 && seen >= cores; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      seen = tapeflow::threads_in_use();
    }
    ::kill(busy, SIGKILL);
    ::waitpid(busy, nullptr, 0);
    BOOST_TEST(seen <= cores - 1, "a team of " << seen << " threads on " << cores << " cores beside a busy process");
  }
  tapeflow::set_num_threads(before);
}

BOOST_AUTO_TEST_SUITE_END()
