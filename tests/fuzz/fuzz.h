#pragma once
// What the fuzz targets and the seed generator (make_seeds.cpp) share: a scratch directory per
// process, how they write files (plain and gzip), the rule for what counts as a finding, and the
// models whose checkpoints the seeds hold and the targets load back.
//
// The readers take paths, so each target writes its input to a file of its scratch directory (the
// same file every time) and calls the reader on it. A tapeflow::Error is the expected outcome of a
// bad file. Anything else is a finding: a crash, a sanitizer report, a timeout or a malloc beyond
// libFuzzer's limit, and any other exception (std::ios_base::failure, std::bad_alloc,
// nlohmann::json's own), which escapes the target so that libFuzzer reports it as an uncaught
// exception, with the input.
#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

#include <tapeflow/tapeflow.h>

namespace tapeflow::fuzz {

/// Ends the process with a message: for the harness's own failures (a file it cannot write),
/// which are not findings about the reader.
[[noreturn]] inline void die(const std::string& what) {
  std::fprintf(stderr, "fuzz harness: %s\n", what.c_str());
  std::abort();
}

/// A directory of this process's own under $TMPDIR (or /tmp), made on first use and removed when
/// the process exits normally (a crash leaves it, next to the crash's input, for a look).
inline const std::filesystem::path& scratch_dir() {
  struct Dir {
    std::filesystem::path path;
    Dir() {
      const char* tmp = std::getenv("TMPDIR");
      std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/tapeflow-fuzz-XXXXXX";
      if (!mkdtemp(tmpl.data())) die("cannot make a scratch directory from " + tmpl);
      path = tmpl;
    }
    ~Dir() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  };
  static const Dir dir;
  return dir.path;
}

/// Replaces the file at `path` with `data`.
inline void write_file(const std::string& path, std::string_view data) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) die("cannot write " + path);
  for (std::size_t done = 0; done < data.size();) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n <= 0) die("cannot write " + path);
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
}

/// `data` compressed as a gzip stream (header and trailer included), as a .gz file holds it.
inline std::string gzip(std::string_view data) {
  z_stream z{};
  if (deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 15 + 16 /* gzip header and trailer */, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    die("deflateInit2 failed");
  std::string out(deflateBound(&z, data.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  if (deflate(&z, Z_FINISH) != Z_STREAM_END) die("deflate failed");
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

inline std::string_view as_view(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

/// Runs `read`; a tapeflow::Error is a clean rejection of a bad file, anything else escapes.
template <class F>
void expect_clean(F&& read) {
  try {
    read();
  } catch (const tapeflow::Error&) {
  }
}

/// One thread: the inputs are small, and OpenMP's thread pool would only blur the coverage and the
/// timings.
inline void init_target() { tapeflow::set_num_threads(1); }

/// The module whose state_dict the checkpoint target loads (parameters and buffers).
inline nn::Sequential make_net() {
  return nn::Sequential(nn::Linear(4, 3), nn::BatchNorm(3), nn::ReLU(), nn::Linear(3, 2));
}

/// The variables of the Saver target, made in the default graph: what a checkpoint of
/// fully_connected_feed holds, in small (float32 weights and biases, the int64 global step).
inline void make_saver_variables() {
  {
    name_scope scope("hidden1");
    Variable(zeros({4, 3}), "weights");
    Variable(zeros({3}), "biases");
  }
  train::get_or_create_global_step();
}

/// The Saver target's input: the text of the "checkpoint" index file, a NUL byte, then the bytes
/// of the checkpoint file (safetensors) it names.
constexpr char kSaverSeparator = '\0';
/// The checkpoint the seed's index names, relative to its directory.
constexpr const char* kSaverCheckpoint = "model.ckpt-1";

}  // namespace tapeflow::fuzz
