// summary::Writer: eager logging through FileWriter and the summary ops' encoders.
#include "tapeflow/summary/writer.h"

#include <fmt/format.h>

#include "summary/encode.h"

namespace tapeflow::summary {

using namespace internal;

namespace {
void check_concrete(const char* who, const std::string& tag, const Tensor& t) {
  if (!t.defined()) throw ValueError(fmt::format("{} '{}': got an undefined tensor", who, tag));
  if (t.is_symbolic())
    throw ValueError(fmt::format("{} '{}': '{}' is a graph tensor; log its value (Session::run of it), or use the "
                                 "graph summary ops (summary::scalar, ...) with a FileWriter",
                                 who, tag, t.impl()->name));
}
}  // namespace

Writer::Writer(const std::string& logdir, FileWriterOptions options) : writer_(logdir, nullptr, std::move(options)) {}

void Writer::scalar(const std::string& tag, double value, std::int64_t step) {
  writer_.add_summary(scalar_summary(tag, value), step);
}

void Writer::scalar(const std::string& tag, const Tensor& value, std::int64_t step) {
  check_concrete("Writer::scalar", tag, value);
  scalar(tag, scalar_value(fmt::format("Writer::scalar '{}'", tag), value), step);
}

void Writer::histogram(const std::string& tag, const Tensor& values, std::int64_t step) {
  check_concrete("Writer::histogram", tag, values);
  writer_.add_summary(histogram_summary(fmt::format("Writer::histogram '{}'", tag), tag, values), step);
}

void Writer::image(const std::string& tag, const Tensor& images, std::int64_t step, int max_outputs) {
  check_concrete("Writer::image", tag, images);
  writer_.add_summary(image_summary(fmt::format("Writer::image '{}'", tag), tag, images, max_outputs), step);
}

void Writer::flush() { writer_.flush(); }
void Writer::close() { writer_.close(); }

}  // namespace tapeflow::summary
