#pragma once
// Internal: the checks the eager modules share (lib/nn/*.cpp). In forward(), `where` is a callable
// returning the module as printed: it is only called to format an error, so the hot path does no
// string work.
#include <string>

#include <fmt/format.h>

#include "tapeflow/error.h"
#include "tapeflow/tensor.h"

namespace tapeflow::nn::detail {

template <class Where>
void check_defined(const Where& where, const Tensor& input) {
  if (!input.defined()) throw ValueError(fmt::format("{}: the input tensor is undefined", where()));
}

/// Runs the functional op `f`, prefixing the message of an error it throws with the module
/// (`where()`) and keeping the error's type.
template <class Where, class F>
auto named(const Where& where, F&& f) {
  try {
    return f();
  } catch (const ShapeError& e) {
    throw ShapeError(fmt::format("{}: {}", where(), e.what()));
  } catch (const DTypeError& e) {
    throw DTypeError(fmt::format("{}: {}", where(), e.what()));
  } catch (const ValueError& e) {
    throw ValueError(fmt::format("{}: {}", where(), e.what()));
  }
}

/// DTypeError unless the input has the parameters' dtype, saying how to fix it (`options`: the
/// options struct whose .dtype builds the layer for another dtype).
template <class Where>
void check_dtype(const Where& where, const Tensor& input, DType expected, const char* options) {
  if (input.dtype() != expected)
    throw DTypeError(fmt::format("{}: the input is {} {} but the parameters are {}; cast the input "
                                 "(cast(x, {})) or build the layer with {}{{.dtype = {}}}",
                                 where(), dtype_name(input.dtype()), input.shape().str(), dtype_name(expected),
                                 dtype_name(expected), options, dtype_name(input.dtype())));
}

inline void check_float_dtype(const std::string& where, DType dtype) {
  if (!is_floating(dtype))
    throw DTypeError(fmt::format("{}: dtype must be float32 or float64, got {}", where, dtype_name(dtype)));
}

}  // namespace tapeflow::nn::detail
