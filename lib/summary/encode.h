#pragma once
// Internal: the encoding of summary values and graphs into TensorBoard's protocol buffers,
// shared by the graph summary ops (ops.cpp), the eager Writer and FileWriter. The generated
// protobuf headers are included here and in lib/summary only, never from a public header.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lib/summary/proto/event.pb.h"
#include "lib/summary/proto/graph.pb.h"
#include "lib/summary/proto/summary.pb.h"
#include "tapeflow/graph/graph.h"
#include "tapeflow/tensor.h"

namespace tapeflow::summary::internal {

namespace pb = tapeflow::tensorboard;

/// The message's bytes, with map entries in a fixed order (deterministic serialization).
std::string serialize(const google::protobuf::MessageLite& message);

/// Seconds since the Unix epoch, with sub-second precision.
double wall_time_now();

/// TensorFlow's clean_tag: characters other than letters, digits, '_', '-', '.' and '/' become
/// '_', and leading '/' are dropped.
std::string clean_tag(const std::string& name);

/// A Summary with one simple_value.
std::string scalar_summary(const std::string& tag, double value);
/// The single value of a one-element numeric tensor (DTypeError for bool, ShapeError naming
/// `who` and the shape otherwise).
double scalar_value(const std::string& who, const Tensor& value);

/// TensorFlow 1.x's default histogram bucket limits (1551 values, ascending).
const std::vector<double>& histogram_bucket_limits();
/// The HistogramProto of all the values of `values` as TensorFlow's Histogram::EncodeToProto
/// writes it (runs of empty buckets collapsed). ValueError naming `who` and `tag` for a NaN or
/// infinite value; DTypeError for a bool tensor.
pb::HistogramProto histogram_proto(const std::string& who, const std::string& tag, const Tensor& values);
/// A Summary with one histogram value.
std::string histogram_summary(const std::string& who, const std::string& tag, const Tensor& values);

/// Checks what summary::image needs of a (static) shape and dtype: rank 4, last dim 1, 3 or 4
/// (or unknown), dtype uint8, float32 or float64. Errors name `who`.
void check_image_input(const std::string& who, const Shape& shape, DType dtype);
/// One image [H,W,C] (C in {1,3,4}) of 8-bit samples as a PNG file.
std::string encode_png(const std::uint8_t* pixels, std::int64_t height, std::int64_t width, int channels);
/// A Summary with up to max_outputs images of `images` [N,H,W,C] (TensorFlow's tags and
/// rescaling; see summary::image).
std::string image_summary(const std::string& who, const std::string& tag, const Tensor& images, int max_outputs);

/// One Summary holding the values of every input Summary (ValueError naming `who` for input
/// bytes that are not a Summary or for a tag seen twice).
std::string merge_summaries(const std::string& who, std::span<const std::string_view> summaries);

/// The bytes of a serialized-summary tensor (uint8 1-D, concrete). Errors name `who`.
std::string_view bytes_of(const std::string& who, const Tensor& serialized);
/// A uint8 1-D tensor holding `bytes`.
Tensor bytes_tensor(std::string_view bytes);

/// TensorFlow's DataType number of a dtype, and tapeflow's name of a DataType number.
pb::DataType data_type_of(DType dtype);
std::string data_type_name(int data_type);

/// The serialized GraphDef of every node of `graph`.
std::string graph_def(const Graph& graph);

}  // namespace tapeflow::summary::internal
