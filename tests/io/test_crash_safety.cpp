// Crash safety as a tested property: a process saving in a loop (forked by tapeflow_saving_child,
// which the test starts with posix_spawn) is killed with SIGKILL at random moments, many times, and
// after each kill what is on disk must be whole: the file under the real name complete (the
// previous or the new one), the Saver's latest_checkpoint() a complete checkpoint that restores,
// its index naming only files that exist. The next save (the next saving process's first) must
// leave no temporary file of a dead writer.
// The four modes run at once, one thread each (the saves mostly wait for fsync): Boost.Test's
// checks are not thread-safe, so a mode stops at its first failure and the test case reports it.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <stdexcept>
#include <thread>

#include "helpers.h"
#include "io/saving_child.h"
#include "tapeflow/graph.h"
#include "tapeflow/graph/saver.h"
#include "tapeflow/io/checkpoint.h"
#include "tapeflow/nn.h"
#include "tapeflow/optim.h"

extern char** environ;

using namespace tapeflow;
namespace fs = std::filesystem;

namespace {

constexpr int kKillsPerMode = 100;
// 64 Ki float32 (256 KiB) per saved tensor: a save, fsync included, takes milliseconds, long
// enough for random kills to land inside it and short enough for 400 kills in seconds, also under
// the sanitizers (where most of a kill's time goes to starting the child).
constexpr std::int64_t kElements = std::int64_t{1} << 16;

/// A failed check in a mode's thread.
struct Failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void expect(bool ok, const std::string& what) {
  if (!ok) throw Failure(what);
}

/// A tapeflow_saving_child: commands go to its stdin, its messages come from its stdout. Gone
/// with its saving process when this goes.
class Server {
 public:
  Server(const std::string& mode, const fs::path& dir) {
    int in[2], out[2];  // close-on-exec: the servers of the other modes must not hold them open
    expect(::pipe2(in, O_CLOEXEC) == 0 && ::pipe2(out, O_CLOEXEC) == 0, fmt::format("pipe: {}", std::strerror(errno)));
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], 0);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    const std::string program = TAPEFLOW_SAVING_CHILD, dir_s = dir.string(), elements = std::to_string(kElements);
    std::vector<char*> argv{const_cast<char*>(program.c_str()), const_cast<char*>(mode.c_str()),
                            const_cast<char*>(dir_s.c_str()), const_cast<char*>(elements.c_str()), nullptr};
    const int err = posix_spawn(&pid_, program.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(in[0]);
    ::close(out[1]);
    in_ = in[1];
    out_ = out[0];
    if (err != 0) pid_ = -1;
    expect(err == 0, fmt::format("cannot start {}: {}", program, std::strerror(err)));
  }
  ~Server() {
    if (saving_ > 0) ::kill(saving_, SIGKILL);
    ::close(in_);  // it exits at the end of its input
    ::close(out_);
    if (pid_ > 0)
      while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
      }
  }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Starts a saving process that saves in a loop (or once); returns its pid.
  pid_t start(bool once = false) {
    const char command = once ? 'o' : 's';
    expect(::write(in_, &command, 1) == 1, "the saving child is gone");
    const tft::SaverMessage m = next();
    expect(m.kind == tft::SaverMessage::started, "the saving child did not start a saving process");
    return saving_ = static_cast<pid_t>(m.a);
  }

  /// The next message (a minute at most).
  tft::SaverMessage next() {
    tft::SaverMessage m{};
    auto* p = reinterpret_cast<char*>(&m);
    std::size_t got = 0;
    while (got < sizeof m) {
      pollfd pfd{out_, POLLIN, 0};
      const int ready = ::poll(&pfd, 1, 60000);
      if (ready < 0 && errno == EINTR) continue;
      expect(ready > 0, "the saving child said nothing for a minute");
      const ssize_t k = ::read(out_, p + got, sizeof m - got);
      if (k < 0 && errno == EINTR) continue;
      expect(k > 0, "the saving child is gone");
      got += static_cast<std::size_t>(k);
    }
    if (m.kind == tft::SaverMessage::ended) saving_ = -1;
    return m;
  }

 private:
  pid_t pid_ = -1, saving_ = -1;
  int in_ = -1, out_ = -1;
};

/// The pids in the names of the temporary files in `dir` (".<name>.tmp.<pid>.<n>").
std::vector<pid_t> temp_file_pids(const fs::path& dir) {
  static const std::regex temp(R"(^\..*\.tmp\.(\d+)(\.\d+)?$)");
  std::vector<pid_t> pids;
  for (const auto& entry : fs::directory_iterator(dir)) {
    std::smatch m;
    const std::string name = entry.path().filename().string();
    if (std::regex_match(name, m, temp)) pids.push_back(static_cast<pid_t>(std::stol(m[1])));
  }
  return pids;
}

/// Every element of a float tensor equals `value`.
bool all_equal(const Tensor& t, double value) {
  const float* p = t.data<float>();
  return std::all_of(p, p + t.numel(), [&](float x) { return x == static_cast<float>(value); });
}

Tensor find(const io::NamedTensors& tensors, const std::string& name) {
  for (const auto& [n, t] : tensors)
    if (n == name) return t;
  throw Failure(fmt::format("no tensor '{}'", name));
}

/// The paths "<dir>/checkpoint" lists (all_model_checkpoint_paths), relative to dir.
std::vector<std::string> listed_checkpoints(const fs::path& dir) {
  std::ifstream in(dir / "checkpoint");
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line))
    if (line.starts_with("all_model_checkpoint_paths: \"")) out.push_back(line.substr(29, line.size() - 30));
  return out;
}

std::int64_t step_of(const std::string& checkpoint) { return std::stoll(checkpoint.substr(checkpoint.rfind('-') + 1)); }

/// What a mode checks after each kill, and the figures it keeps.
struct Mode {
  std::string name;
  int kills = 0;
  int in_temp = 0;        // the killed process left a temporary file: the kill landed inside a write
  int index_behind = 0;   // (Saver) a checkpoint newer than the index's latest: between data and index
  int leftovers = 0;      // (Saver) unlisted older checkpoints: between the index and the deletion
  double seconds = 0;
  std::string failure;    // the first failed check, if any

  virtual ~Mode() = default;
  /// What the directory holds after a kill, given the last save reported complete.
  virtual void check(const fs::path& dir, std::int64_t last) = 0;
};

// io::save of one file: it holds save `last` or the one after, whole.
struct Eager : Mode {
  void check(const fs::path& dir, std::int64_t last) override {
    const auto tensors = io::load((dir / "eager.safetensors").string());
    const std::int64_t n = find(tensors, "n").item<std::int64_t>();
    expect(n == last || n == last + 1, fmt::format("eager.safetensors holds save {} after {}", n, last));
    expect(all_equal(find(tensors, "w"), static_cast<double>(n)), fmt::format("save {} is not whole", n));
  }
};

// A module's and an optimizer's state dicts: both whole, and they load into a fresh pair.
struct State : Mode {
  nn::Linear net{tft::state_side(kElements), tft::state_side(kElements)};
  optim::Adam opt{net.parameters()};
  void check(const fs::path& dir, std::int64_t last) override {
    for (const char* file : {"model.safetensors", "optimizer.safetensors"}) {
      const std::int64_t n = std::stoll(io::load_metadata((dir / file).string()).at("n"));
      expect(n == last || n == last + 1, fmt::format("{} holds save {} after {}", file, n, last));
    }
    net.load_state_dict(io::load((dir / "model.safetensors").string()));
    opt.load_state_dict(io::load((dir / "optimizer.safetensors").string()));
  }
};

// The Saver: latest_checkpoint() is save `last` or the one after and restores; the index lists at
// most max_to_keep checkpoints, all on disk and whole.
struct SaverMode : Mode {
  int max_to_keep;
  Graph g;
  Tensor w, step;
  std::unique_ptr<train::Saver> saver;
  std::unique_ptr<Session> sess;
  explicit SaverMode(int keep) : max_to_keep(keep) {
    auto scope = g.as_default();
    w = Variable(zeros({kElements}), "w");
    step = train::get_or_create_global_step();
    saver = std::make_unique<train::Saver>();
    sess = std::make_unique<Session>(g);
  }
  void check(const fs::path& dir, std::int64_t last) override {
    const std::string latest = train::latest_checkpoint(dir.string());
    expect(!latest.empty(), fmt::format("no latest checkpoint after save {} completed", last));
    saver->restore(*sess, latest);
    const std::int64_t n = sess->value(step).item<std::int64_t>();
    expect(n == last || n == last + 1, fmt::format("the latest checkpoint is step {} after {}", n, last));
    expect(step_of(latest) == n, fmt::format("{} holds step {}", latest, n));
    expect(all_equal(sess->value(w), static_cast<double>(n)), fmt::format("{} is not whole", latest));
    const std::vector<std::string> listed = listed_checkpoints(dir);
    expect(!listed.empty() && static_cast<int>(listed.size()) <= max_to_keep,
           fmt::format("the index lists {} checkpoints", listed.size()));
    expect((dir / listed.back()).string() == latest, "the index's last checkpoint is not its latest");
    for (const std::string& c : listed) {
      const std::string file = (dir / c).string() + ".safetensors";
      expect(fs::exists(file), fmt::format("the index lists {}, which is gone", c));
      expect(all_equal(find(io::load(file), "w"), static_cast<double>(step_of(c))), fmt::format("{} is not whole", c));
    }
    // Figures: where in the save the kill landed.
    int older = 0;
    for (const auto& entry : fs::directory_iterator(dir)) {
      const std::string name = entry.path().filename().string();
      if (!name.starts_with("model.ckpt-") || !name.ends_with(".safetensors")) continue;
      const std::string c = name.substr(0, name.size() - 12);
      if (step_of(c) > n) ++index_behind;
      if (step_of(c) < n && std::find(listed.begin(), listed.end(), c) == listed.end()) ++older;
    }
    leftovers = older;
  }
};

void run_kills(Mode& mode, const fs::path& dir) {
  std::mt19937 rng(20240 + static_cast<unsigned>(mode.name.size() * 7 + mode.name.back()));
  Server server(mode.name, dir);
  std::int64_t last = -1;
  for (int k = 0; k < kKillsPerMode; ++k) {
    const pid_t pid = server.start();
    tft::SaverMessage m = server.next();
    expect(m.kind == tft::SaverMessage::saved,
           fmt::format("saving process {} ended (wait status {}) before its first save", k, m.b));
    last = m.a;
    std::int64_t nanos = m.b;
    // Its first save removed what the killed ones left; its own may be under way.
    for (pid_t p : temp_file_pids(dir))
      expect(p == pid, fmt::format("a temporary file of killed pid {} survived a save", p));
    // Kill it in one of its first few saves (a Saver deletes old checkpoints from its second save
    // on when the directory has none to take over), at a random moment spread over two saves.
    for (int more = std::uniform_int_distribution<int>(0, 2)(rng); more > 0; --more) {
      m = server.next();
      expect(m.kind == tft::SaverMessage::saved, fmt::format("saving process {} ended (wait status {})", k, m.b));
      last = m.a;
      nanos = m.b;
    }
    const std::int64_t delay = std::uniform_int_distribution<std::int64_t>(0, 2 * nanos)(rng);
    std::this_thread::sleep_for(std::chrono::nanoseconds(delay));
    ::kill(pid, SIGKILL);
    for (m = server.next(); m.kind != tft::SaverMessage::ended; m = server.next())
      if (m.kind == tft::SaverMessage::saved) last = m.a;
    expect(WIFSIGNALED(m.b) && WTERMSIG(m.b) == SIGKILL, fmt::format("saving process {} ended before the kill", k));
    ++mode.kills;
    const auto pids = temp_file_pids(dir);
    if (std::find(pids.begin(), pids.end(), pid) != pids.end()) ++mode.in_temp;
    mode.check(dir, last);
  }
  // One more save, to the end: it leaves no temporary file at all.
  server.start(true);
  tft::SaverMessage saved = server.next(), ended = server.next();
  expect(saved.kind == tft::SaverMessage::saved && ended.kind == tft::SaverMessage::ended && WIFEXITED(ended.b) &&
             WEXITSTATUS(ended.b) == 0,
         "the last save failed");
  expect(temp_file_pids(dir).empty(), "a temporary file survived the last save");
  mode.check(dir, saved.a);
}

/// Runs a mode in `dir` to its end or its first failure; never throws (it runs in a thread of its own).
void run(Mode& mode, const fs::path& dir) {
  const auto start = std::chrono::steady_clock::now();
  try {
    run_kills(mode, dir);
  } catch (const std::exception& e) {
    mode.failure = fmt::format("after {} kills: {}", mode.kills, e.what());
  }
  mode.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(crash_safety)

BOOST_AUTO_TEST_CASE(saves_survive_kills_at_random_moments) {
  Eager eager;
  State state;
  SaverMode saver1(1), saver3(3);
  eager.name = "eager";
  state.name = "state";
  saver1.name = "saver1";  // Saver with max_to_keep 1
  saver3.name = "saver3";  // and 3
  std::vector<std::unique_ptr<tft::TempDir>> dirs;
  std::vector<std::thread> threads;
  const auto start = std::chrono::steady_clock::now();
  for (Mode* mode : std::initializer_list<Mode*>{&eager, &state, &saver1, &saver3}) {
    dirs.push_back(std::make_unique<tft::TempDir>("crash_" + mode->name));
    threads.emplace_back([mode, dir = dirs.back()->path] { run(*mode, dir); });
  }
  for (auto& t : threads) t.join();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (const Mode* mode : std::initializer_list<const Mode*>{&eager, &state, &saver1, &saver3}) {
    BOOST_TEST_MESSAGE(fmt::format("{}: {} kills in {:.1f} s, {} inside a write (a temporary file left){}", mode->name,
                                   mode->kills, mode->seconds, mode->in_temp,
                                   mode->name.starts_with("saver")
                                       ? fmt::format(", {} between data and index, {} unlisted older checkpoints "
                                                     "left",
                                                     mode->index_behind, mode->leftovers)
                                       : ""));
    BOOST_CHECK_MESSAGE(mode->failure.empty(), mode->name << ": " << mode->failure);
    BOOST_CHECK_EQUAL(mode->kills, kKillsPerMode);
  }
  BOOST_TEST_MESSAGE(fmt::format("{} kills in {:.1f} s", eager.kills + state.kills + saver1.kills + saver3.kills,
                                 seconds));
}

BOOST_AUTO_TEST_SUITE_END()
