// FileWriter: TensorBoard event files, written one whole record at a time.
#include "tapeflow/summary/file_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <exception>
#include <filesystem>
#include <mutex>
#include <stop_token>
#include <thread>
#include <utility>

#include <fmt/format.h>

#include "summary/encode.h"
#include "tapeflow/graph/graph.h"
#include "tapeflow/summary/record.h"

namespace tapeflow::summary {

using namespace internal;
using Clock = std::chrono::steady_clock;

namespace {

std::string hostname() {
  char buffer[256] = {};
  if (::gethostname(buffer, sizeof buffer - 1) != 0 || buffer[0] == '\0') return "localhost";
  return buffer;
}

// Names taken by this process's writers get ".<pid>.<n>" with n from this counter.
std::atomic<int> file_counter{0};

}  // namespace

struct FileWriter::State {
  std::string logdir, path;
  FileWriterOptions options;
  int fd = -1;
  std::mutex mutex;
  std::condition_variable_any wake;
  std::string pending;  // whole framed records, not yet written
  int pending_count = 0;
  Clock::time_point last_write;
  std::exception_ptr background_error;  // a failed background write, reported by the next call
  std::jthread flusher;                 // writes pending records every flush_secs

  // Writes `bytes` (whole records) to the file in one write call (more only if the system
  // writes part of it).
  void write_all(std::string_view bytes) {
    while (!bytes.empty()) {
      const ::ssize_t n = ::write(fd, bytes.data(), bytes.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        throw IOError(fmt::format("FileWriter: cannot write to '{}': {}", path, std::strerror(errno)));
      }
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  void write_pending_locked() {
    if (!pending.empty()) {
      std::string batch;
      batch.swap(pending);
      pending_count = 0;
      write_all(batch);
    }
    last_write = Clock::now();
  }

  void rethrow_background_error_locked() {
    if (background_error) std::rethrow_exception(std::exchange(background_error, nullptr));
  }

  // Creates a new, uniquely named event file, writes its file_version record and starts the
  // background writer.
  void open() {
    std::error_code ec;
    std::filesystem::create_directories(logdir, ec);
    if (ec)
      throw IOError(fmt::format("FileWriter: cannot create the log directory '{}': {}", logdir, ec.message()));
    const std::string base = fmt::format("events.out.tfevents.{:010d}.{}", static_cast<long long>(std::time(nullptr)),
                                         hostname());
    for (int attempt = 0;; ++attempt) {
      const std::string name = attempt == 0 ? base + options.filename_suffix
                                            : fmt::format("{}.{}.{}{}", base, ::getpid(), file_counter++,
                                                          options.filename_suffix);
      path = (std::filesystem::path(logdir) / name).string();
      fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
      if (fd >= 0) break;
      if (errno != EEXIST || attempt >= 1000)
        throw IOError(fmt::format("FileWriter: cannot create the event file '{}': {}", path, std::strerror(errno)));
    }
    Event first;
    first.wall_time = wall_time_now();
    first.file_version = "brain.Event:2";
    try {
      write_all(frame_record(serialize_event(first)));
    } catch (...) {
      ::close(fd);
      fd = -1;
      throw;
    }
    last_write = Clock::now();
    const auto period = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.flush_secs));
    flusher = std::jthread([this, period](std::stop_token stop) {
      std::unique_lock lock(mutex);
      while (!stop.stop_requested()) {
        wake.wait_until(lock, stop, last_write + period, [] { return false; });
        if (stop.stop_requested() || fd < 0) return;
        if (Clock::now() - last_write < period) continue;
        try {
          write_pending_locked();
        } catch (...) {
          background_error = std::current_exception();
          return;
        }
      }
    });
  }

  void add(std::string record) {
    std::lock_guard lock(mutex);
    rethrow_background_error_locked();
    if (fd < 0)
      throw ValueError(fmt::format("FileWriter: '{}' is closed; call reopen() to write a new event file", path));
    pending += record;
    if (++pending_count >= options.max_queue) write_pending_locked();
  }

  void close() {
    flusher = std::jthread();  // stops and joins the background writer
    std::lock_guard lock(mutex);
    if (fd < 0) {
      rethrow_background_error_locked();
      return;
    }
    std::exception_ptr error = std::exchange(background_error, nullptr);
    try {
      write_pending_locked();
    } catch (...) {
      if (!error) error = std::current_exception();
    }
    if (::close(fd) != 0 && !error)
      error = std::make_exception_ptr(
          IOError(fmt::format("FileWriter: closing '{}' failed: {}", path, std::strerror(errno))));
    fd = -1;
    pending.clear();
    pending_count = 0;
    if (error) std::rethrow_exception(error);
  }
};

FileWriter::FileWriter(const std::string& logdir, const Graph* graph, FileWriterOptions options)
    : state_(std::make_unique<State>()) {
  if (logdir.empty()) throw ValueError("FileWriter: the log directory must not be empty");
  if (options.max_queue < 1)
    throw ValueError(fmt::format("FileWriter('{}'): max_queue must be at least 1, got {}", logdir, options.max_queue));
  if (!(options.flush_secs > 0) || options.flush_secs > 1e9)
    throw ValueError(fmt::format("FileWriter('{}'): flush_secs must be in (0, 1e9] seconds, got {}", logdir,
                                 options.flush_secs));
  if (options.filename_suffix.find('/') != std::string::npos)
    throw ValueError(fmt::format("FileWriter('{}'): filename_suffix '{}' must not contain '/'", logdir,
                                 options.filename_suffix));
  state_->logdir = logdir;
  state_->options = std::move(options);
  state_->open();
  if (!graph) return;
  try {
    add_graph(*graph);
  } catch (...) {
    // The destructor does not run for a constructor that throws: close the file here, and
    // report the first error.
    try {
      state_->close();
    } catch (...) {
    }
    throw;
  }
}

FileWriter::FileWriter(const std::string& logdir, const Graph& graph, FileWriterOptions options)
    : FileWriter(logdir, &graph, std::move(options)) {}

FileWriter::~FileWriter() {
  if (!state_) return;
  try {
    state_->close();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tapeflow::summary::FileWriter: closing '%s' failed: %s\n", state_->path.c_str(), e.what());
  }
}

FileWriter::FileWriter(FileWriter&& other) noexcept = default;

FileWriter& FileWriter::operator=(FileWriter&& other) noexcept {
  if (this != &other) {
    FileWriter closing(std::move(*this));  // closes the current file when it goes
    state_ = std::move(other.state_);
  }
  return *this;
}

FileWriter::State& FileWriter::live(const char* who) const {
  if (!state_) throw ValueError(fmt::format("FileWriter::{}: this FileWriter was moved from", who));
  return *state_;
}

void FileWriter::add_summary(std::string_view serialized_summary, std::int64_t global_step) {
  State& s = live("add_summary");
  pb::Event event;
  event.set_wall_time(wall_time_now());
  event.set_step(global_step);
  if (!event.mutable_summary()->ParseFromArray(serialized_summary.data(), static_cast<int>(serialized_summary.size())))
    throw ValueError(fmt::format("FileWriter::add_summary: {} bytes that are not a serialized Summary (pass the output "
                                 "of a summary op)",
                                 serialized_summary.size()));
  s.add(frame_record(serialize(event)));
}

void FileWriter::add_summary(const Tensor& serialized_summary, std::int64_t global_step) {
  add_summary(bytes_of("FileWriter::add_summary", serialized_summary), global_step);
}

void FileWriter::add_graph(const Graph& graph, std::int64_t global_step) {
  State& s = live("add_graph");
  pb::Event event;
  event.set_wall_time(wall_time_now());
  event.set_step(global_step);
  event.set_graph_def(internal::graph_def(graph));
  s.add(frame_record(serialize(event)));
}

void FileWriter::add_event(const Event& event) { live("add_event").add(frame_record(serialize_event(event))); }

void FileWriter::flush() {
  State& s = live("flush");
  std::lock_guard lock(s.mutex);
  s.rethrow_background_error_locked();
  if (s.fd < 0) return;
  s.write_pending_locked();
}

void FileWriter::close() {
  if (state_) state_->close();
}

void FileWriter::reopen() {
  State& s = live("reopen");
  {
    std::lock_guard lock(s.mutex);
    if (s.fd >= 0) return;
  }
  s.open();
}

const std::string& FileWriter::get_logdir() const { return live("get_logdir").logdir; }
const std::string& FileWriter::path() const { return live("path").path; }

}  // namespace tapeflow::summary
