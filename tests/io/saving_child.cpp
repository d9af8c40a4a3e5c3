// The program whose saving processes tests/io/test_crash_safety.cpp kills with SIGKILL at random
// moments, to check what is on disk after each kill. Started by the test (posix_spawn), never by
// hand:
//
//   tapeflow_saving_child MODE DIR ELEMENTS
//
// It reads one-byte commands on its stdin: 's' starts a saving process that saves in a loop until
// it is killed, 'o' one that saves once and exits. A saving process is a fork of this one, taken
// before anything else runs (one thread, no tapeflow state): a fresh process as far as saving
// goes, but one that does not pay for starting up (the dynamic loader, and the sanitizers' set-up
// in the sanitizer build, take ten times as long as a save). Each runs to its end before the next
// command is read. On its stdout it writes tft::SaverMessages: started (the pid to kill; written by
// the saving process itself, before anything else), saved after each completed save, and ended (the
// wait status) once the saving process is gone.
//
// MODE says what is saved into DIR, each save a little different from the one before (the number
// n below counts saves across processes: each resumes from what DIR holds, as a training job
// restarted after a crash does):
//   eager    io::save("eager.safetensors", {"w": ELEMENTS floats all equal to n, "n": n})
//   state    a module's and an Adam optimizer's state dicts ("model.safetensors",
//            "optimizer.safetensors", metadata "n") after n optimizer steps
//   saver1   Saver(max_to_keep = 1).save(sess, "model.ckpt", n) of w = ELEMENTS floats equal
//   saver3   to n and the global step n; max_to_keep 3 for saver3
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "tapeflow/graph.h"
#include "tapeflow/graph/saver.h"
#include "tapeflow/io/checkpoint.h"
#include "tapeflow/nn.h"
#include "tapeflow/optim.h"
#include "tapeflow/tapeflow.h"
#include "io/saving_child.h"

using namespace tapeflow;
namespace fs = std::filesystem;

namespace {

void send(tft::SaverMessage m) {
  if (::write(1, &m, sizeof m) != static_cast<ssize_t>(sizeof m)) std::_Exit(3);  // the test is gone
}

void report(std::int64_t n, std::chrono::steady_clock::time_point start) {
  send({tft::SaverMessage::saved, n,
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count()});
}

void eager(const fs::path& dir, std::int64_t elements, bool once) {
  const std::string path = (dir / "eager.safetensors").string();
  std::int64_t n = 0;
  if (fs::exists(path))
    for (const auto& [name, t] : io::load(path))
      if (name == "n") n = t.item<std::int64_t>() + 1;
  for (;; ++n) {
    const auto start = std::chrono::steady_clock::now();
    io::save(path, {{"w", full({elements}, static_cast<double>(n))}, {"n", scalar(static_cast<double>(n), int64)}});
    report(n, start);
    if (once) return;
  }
}

void state(const fs::path& dir, std::int64_t elements, bool once) {
  const std::string model = (dir / "model.safetensors").string(), optimizer = (dir / "optimizer.safetensors").string();
  const std::int64_t side = tft::state_side(elements);
  manual_seed(1);
  nn::Linear net(side, side);
  optim::Adam opt(net.parameters(), {.lr = 1e-3});
  std::int64_t n = 0;
  if (fs::exists(optimizer)) {
    net.load_state_dict(io::load(model));
    opt.load_state_dict(io::load(optimizer));
    n = std::stoll(io::load_metadata(optimizer).at("n")) + 1;
  }
  const Tensor x = full({1, side}, 0.5);
  for (;; ++n) {
    opt.zero_grad();
    reduce_mean(square(net(x))).backward();
    opt.step();
    const auto start = std::chrono::steady_clock::now();
    io::save(model, net.state_dict(), {{"n", std::to_string(n)}});
    io::save(optimizer, opt.state_dict(), {{"n", std::to_string(n)}});
    report(n, start);
    if (once) return;
  }
}

void saver(const fs::path& dir, std::int64_t elements, int max_to_keep, bool once) {
  Graph g;
  auto scope = g.as_default();
  Tensor w = Variable(zeros({elements}), "w");
  Tensor step = train::get_or_create_global_step();
  train::Saver saver({}, {.max_to_keep = max_to_keep});
  Session sess(g);
  sess.run(global_variables_initializer());
  std::int64_t n = 1;
  if (const std::string latest = train::latest_checkpoint(dir.string()); !latest.empty()) {
    saver.restore(sess, latest);
    n = sess.value(step).item<std::int64_t>() + 1;
  }
  for (;; ++n) {
    sess.set_value(w, full({elements}, static_cast<double>(n)));
    sess.set_value(step, scalar(static_cast<double>(n), int64));
    const auto start = std::chrono::steady_clock::now();
    saver.save(sess, (dir / "model.ckpt").string(), n);
    report(n, start);
    if (once) return;
  }
}

/// What a saving process does: saves in a loop (or once) and never returns.
[[noreturn]] void save(const std::string& mode, const fs::path& dir, std::int64_t elements, bool once) {
  try {
    if (mode == "eager") eager(dir, elements, once);
    else if (mode == "state") state(dir, elements, once);
    else if (mode == "saver1") saver(dir, elements, 1, once);
    else if (mode == "saver3") saver(dir, elements, 3, once);
    else throw ValueError("unknown mode " + mode);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tapeflow_saving_child: %s\n", e.what());
    std::exit(1);
  }
  std::exit(0);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s eager|state|saver1|saver3 DIR ELEMENTS, then 's' or 'o' on stdin\n", argv[0]);
    return 2;
  }
  set_num_threads(1);  // no OpenMP threads: the process stays single-threaded, safe to fork
  const std::string mode = argv[1];
  const fs::path dir = argv[2];
  const std::int64_t elements = std::stoll(argv[3]);
  for (;;) {
    char command = 0;
    const ssize_t k = ::read(0, &command, 1);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return 0;  // the test is done
    if (command != 's' && command != 'o') continue;
    const pid_t pid = ::fork();
    if (pid < 0) {
      std::perror("tapeflow_saving_child: fork");
      return 1;
    }
    if (pid == 0) {
      // The saving process says it started, not this one: a quick first save of it could
      // otherwise report "saved" before this process, not scheduled at once, had said "started".
      send({tft::SaverMessage::started, ::getpid(), 0});
      save(mode, dir, elements, command == 'o');
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    send({tft::SaverMessage::ended, pid, status});
  }
}
