#pragma once
/// TensorBoard's records as plain structs: what an event file holds, for reading logs back
/// (tests, scripts, checks of a training run) and for writing events by hand
/// (FileWriter::add_event).
///
///   for (const auto& path : summary::list_event_files("logs/run1"))
///     for (const summary::Event& e : summary::read_events(path))
///       if (e.summary)
///         for (const summary::Value& v : *e.summary)
///           if (v.simple_value) fmt::print("{} {} {}\n", e.step, v.tag, *v.simple_value);
///
/// A serialized Summary (what the graph summary ops output and FileWriter::add_summary takes)
/// is TensorFlow's Summary protocol buffer; in a Tensor it is a uint8 1-D tensor of its bytes.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tapeflow/shape.h"
#include "tapeflow/tensor.h"

namespace tapeflow::summary {

/// TensorFlow's HistogramProto: bucket[i] counts the values in (bucket_limit[i-1], bucket_limit[i]].
struct HistogramValue {
  double min = 0, max = 0, num = 0, sum = 0, sum_squares = 0;
  std::vector<double> bucket_limit;
  std::vector<double> bucket;
};

/// TensorFlow's Summary.Image: an encoded (PNG) image.
struct ImageValue {
  int height = 0, width = 0;
  /// 1 grayscale, 2 grayscale + alpha, 3 RGB, 4 RGBA.
  int colorspace = 0;
  /// The bytes of the PNG file.
  std::string encoded_image;
};

/// One value of a Summary: a tag and at most one of a scalar, a histogram and an image (none
/// for the kinds tapeflow does not read, such as audio or tensors).
struct Value {
  std::string tag;
  std::optional<float> simple_value;
  std::optional<HistogramValue> histogram;
  std::optional<ImageValue> image;
};

/// One node of a GraphDef.
struct NodeDef {
  std::string name;  // "hidden1/MatMul"
  std::string op;    // "MatMul"
  /// "node", "node:k" (output k of node) and, after those, "^node" (control inputs).
  std::vector<std::string> inputs;
  std::string device;
  /// The static shape of each output (attr "_output_shapes"; [?,784] for unknown dims).
  std::vector<Shape> output_shapes;
  /// The other attrs as text: dtypes by tapeflow's name ("float32"), numbers, strings, shapes.
  std::map<std::string, std::string> attrs;
};

/// One event: when, at which step, and what (at most one of the three).
struct Event {
  /// Seconds since the Unix epoch.
  double wall_time = 0;
  std::int64_t step = 0;
  /// "brain.Event:2" in the first event of a file.
  std::optional<std::string> file_version;
  /// The values of a Summary.
  std::optional<std::vector<Value>> summary;
  /// A serialized GraphDef (parse_graph_def reads it).
  std::optional<std::string> graph_def;
};

/// Every event of the event file at `path`, in order. Both CRCs of every record are checked:
/// IOError naming the file and the byte offset for a bad CRC, a truncated record or a record
/// that is not an Event.
std::vector<Event> read_events(const std::string& path);

/// The event files of a log directory (names containing "tfevents"), sorted by name, as
/// TensorBoard reads them. IOError when `logdir` is not a readable directory.
std::vector<std::string> list_event_files(const std::string& logdir);

/// The values of a serialized Summary; ValueError when the bytes are not one.
std::vector<Value> parse_summary(std::string_view serialized);
/// The same for the uint8 1-D tensor a summary op outputs (Session::run's value).
std::vector<Value> parse_summary(const Tensor& serialized);
/// A serialized Summary of `values` (each with a tag and exactly one of its three kinds).
std::string serialize_summary(const std::vector<Value>& values);

/// The nodes of a serialized GraphDef; ValueError when the bytes are not one.
std::vector<NodeDef> parse_graph_def(std::string_view serialized);

/// The serialized Event protocol buffer of `event` (ValueError when more than one of
/// file_version, summary and graph_def is set).
std::string serialize_event(const Event& event);

}  // namespace tapeflow::summary
