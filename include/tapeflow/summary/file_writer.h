#pragma once
/// FileWriter: writes TensorBoard event files (tf.summary.FileWriter).
///
///   summary::FileWriter writer("logs/run1", &sess.graph());     // the graph for the Graphs tab
///   Tensor merged = summary::merge_all();
///   for (int step = 0; step < 1000; ++step) {
///     auto out = sess.run({train_op, merged}, feed);
///     if (step % 10 == 0) writer.add_summary(out[1], step);
///   }
///   writer.close();                                            // or let it go out of scope
///
/// The file is `<logdir>/events.out.tfevents.<10-digit Unix seconds>.<hostname>`, with
/// ".<pid>.<n>" added before the suffix when that name is taken. Its first record (file_version
/// "brain.Event:2") is written at once; later events are buffered and written on flush(), when
/// `max_queue` are pending, every `flush_secs` (by a background thread), and on close() or
/// destruction. Each record is written whole, so TensorBoard reading the file meanwhile never
/// sees half a record.
///
/// A FileWriter writes in every process that creates one. In a job of N processes
/// (tapeflow/distributed.h) create it on the process that should write, usually rank 0 only:
///   std::optional<summary::FileWriter> writer;
///   if (distributed::is_root()) writer.emplace("logs/run1", sess.graph());
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "tapeflow/summary/event.h"
#include "tapeflow/tensor.h"

namespace tapeflow {

class Graph;

namespace summary {

struct FileWriterOptions {
  /// Pending events that trigger a write (at least 1).
  int max_queue = 10;
  /// Seconds between background writes of pending events (> 0).
  double flush_secs = 120;
  /// Appended to the event file's name.
  std::string filename_suffix = "";
};

class FileWriter {
 public:
  /// Creates `logdir` (with its parents) and a new event file in it; with a graph, also writes
  /// the graph's GraphDef (add_graph). IOError when the directory or file cannot be created;
  /// ValueError for bad options.
  explicit FileWriter(const std::string& logdir, const Graph* graph = nullptr, FileWriterOptions options = {});
  FileWriter(const std::string& logdir, const Graph& graph, FileWriterOptions options = {});
  /// Closes the file (writing what is pending); an error then is reported on stderr.
  ~FileWriter();
  FileWriter(FileWriter&&) noexcept;
  FileWriter& operator=(FileWriter&&) noexcept;
  FileWriter(const FileWriter&) = delete;
  FileWriter& operator=(const FileWriter&) = delete;

  /// Adds a Summary event at `global_step` with the current wall time. `serialized_summary` is
  /// a serialized Summary (ValueError otherwise).
  void add_summary(std::string_view serialized_summary, std::int64_t global_step = 0);
  /// The same for the uint8 1-D tensor a summary op outputs (what Session::run returns for it).
  void add_summary(const Tensor& serialized_summary, std::int64_t global_step = 0);
  /// Adds the graph's GraphDef: node names with their scopes, op types, inputs ("^name" for
  /// control inputs; a variable's Assign-like nodes take the variable as first input), and the
  /// attrs "dtype"/"T", "shape" (placeholders, variables) and "_output_shapes".
  void add_graph(const Graph& graph, std::int64_t global_step = 0);
  /// Adds `event` as it is (wall_time and step included).
  void add_event(const Event& event);

  /// Writes the pending events now.
  void flush();
  /// Writes the pending events and closes the file; later adds are a ValueError until reopen().
  /// Closing twice is fine.
  void close();
  /// After close(): starts a new event file in the same log directory.
  void reopen();

  const std::string& get_logdir() const;
  /// The current event file.
  const std::string& path() const;

 private:
  struct State;
  State& live(const char* who) const;  // ValueError for a moved-from FileWriter
  std::unique_ptr<State> state_;
};

}  // namespace summary
}  // namespace tapeflow
