#pragma once
/// Eager logging to TensorBoard: a FileWriter with one call per value.
///
///   summary::Writer writer("logs/run1");
///   for (int step = 0; step < steps; ++step) {
///     ...
///     writer.scalar("loss", loss.item(), step);
///     if (step % 100 == 0) writer.histogram("conv1/weight", model.conv1->weight, step);
///   }
///
/// Values are encoded exactly as the graph summary ops encode them (ops.h), with the tag given.
/// Every Writer writes its own event file: in a job of N processes (tapeflow/distributed.h),
/// create one on rank 0 only (`if (distributed::is_root()) writer.emplace(logdir);` with a
/// std::optional<Writer>), as Horovod's examples do.
#include <cstdint>
#include <string>

#include "tapeflow/summary/file_writer.h"
#include "tapeflow/tensor.h"

namespace tapeflow::summary {

class Writer {
 public:
  /// A new event file in `logdir` (created with its parents).
  explicit Writer(const std::string& logdir, FileWriterOptions options = {});

  /// A scalar value.
  void scalar(const std::string& tag, double value, std::int64_t step);
  /// A one-element tensor's value (any numeric dtype and shape [] ... [1,1]).
  void scalar(const std::string& tag, const Tensor& value, std::int64_t step);
  /// A histogram of all the values of `values` (NaN or Inf: ValueError naming the tag).
  void histogram(const std::string& tag, const Tensor& values, std::int64_t step);
  /// Up to `max_outputs` images of `images` [N,H,W,C], C in {1,3,4}, uint8 or float (rescaled as
  /// summary::image does), tagged "<tag>/image" or "<tag>/image/<i>".
  void image(const std::string& tag, const Tensor& images, std::int64_t step, int max_outputs = 3);

  /// Writes the pending events now.
  void flush();
  /// Writes the pending events and closes the file.
  void close();
  /// The FileWriter underneath (for add_graph, path(), ...).
  FileWriter& file_writer() { return writer_; }

 private:
  FileWriter writer_;
};

}  // namespace tapeflow::summary
