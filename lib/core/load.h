#pragma once
// Internal: how many threads tapeflow's teams use on a shared machine (see set_adaptive_threads).
// The pure parts (reading /proc/stat, the decision) are here, inline, so tests can reach them;
// the monitor thread that drives them is in threads.cpp.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <string_view>
#include <vector>

namespace tapeflow::detail {

/// The CPUs this process may run on: its affinity set (taskset, a container's cpuset), as
/// OpenMP's default team counts them; the machine's CPUs where that is unknown. Read once, when
/// first asked; defined in threads.cpp. The default thread count, and the fixed runs of the
/// kernels whose sums must not depend on the thread count (FixedRuns).
int usable_cpus();

/// The ticks the CPUs in `cpus` spent busy (user, nice, system, irq, softirq, steal), summed, from
/// the text of /proc/stat; -1 when a listed CPU has no line or a line does not parse.
inline std::int64_t busy_ticks(std::string_view stat, const std::vector<int>& cpus) {
  std::int64_t busy = 0;
  std::size_t found = 0;
  while (!stat.empty()) {
    const std::size_t eol = std::min(stat.find('\n'), stat.size());
    std::string_view line = stat.substr(0, eol);
    stat.remove_prefix(std::min(eol + 1, stat.size()));
    // "cpuN user nice system idle iowait irq softirq steal ...": the per-CPU lines, not "cpu ".
    if (line.size() < 4 || line.substr(0, 3) != "cpu" || line[3] < '0' || line[3] > '9') continue;
    int cpu = -1;
    const char* p = line.data() + 3;
    const char* end = line.data() + line.size();
    auto [q, ec] = std::from_chars(p, end, cpu);
    if (ec != std::errc() || std::find(cpus.begin(), cpus.end(), cpu) == cpus.end()) continue;
    std::int64_t field[8] = {};
    for (std::int64_t& f : field) {
      while (q < end && *q == ' ') ++q;
      auto [next, e] = std::from_chars(q, end, f);
      if (e != std::errc()) return -1;
      q = next;
    }
    constexpr int kIdle = 3, kIowait = 4;
    for (int i = 0; i < 8; ++i)
      if (i != kIdle && i != kIowait) busy += field[i];
    ++found;
  }
  return found == cpus.size() ? busy : -1;
}

/// The number after "procs_running" in the text of /proc/stat (the tasks running or ready to run
/// at that moment, machine-wide); -1 when there is none.
inline std::int64_t procs_running(std::string_view stat) {
  constexpr std::string_view kKey = "\nprocs_running ";
  const std::size_t at = stat.find(kKey);
  if (at == std::string_view::npos) return -1;
  std::int64_t n = -1;
  const char* p = stat.data() + at + kKey.size();
  std::from_chars(p, stat.data() + stat.size(), n);
  return n;
}

/// The number of threads to use next, given the number in use, the most allowed (`cap`), the CPUs
/// the process may run on and `others`, the CPUs' worth of time other processes took from them
/// lately. The free CPUs (cpus - others) rounded, between 1 and cap; but n threads where fewer
/// are in use only when n - 0.25 CPUs are free, so that a team does not grow on a noisy reading
/// and shrink again. With 2 threads on 2 CPUs beside one busy process, the process gets about 2/3
/// of a CPU: 1.33 free, one thread; at one thread it gets a whole CPU: 1 free, one thread still.
inline int adapt_threads(int in_use, int cap, int cpus, double others) {
  const double free = static_cast<double>(cpus) - std::max(0.0, others);
  const auto clamped = [&](double x) { return std::clamp(static_cast<int>(std::floor(x)), 1, std::max(1, cap)); };
  const int want = clamped(free + 0.5);
  return want > in_use ? std::max(in_use, clamped(free + 0.25)) : want;
}

}  // namespace tapeflow::detail
