#pragma once
/// Op attributes as data (TensorFlow's AttrValue): every op hands its attributes (`transpose_a`,
/// `strides`, `padding`, `axis`, ...) to the one door all ops go through; graph mode keeps them
/// on the node, where the GraphDef writer (and exporters) read them. There is no second table of
/// op metadata.
#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "tapeflow/dtype.h"
#include "tapeflow/shape.h"

namespace tapeflow {

/// One attribute's value: TensorFlow's b, i, f, type, s, list(i), list(s) and shape.
using AttrValue =
    std::variant<bool, std::int64_t, double, DType, std::string, std::vector<std::int64_t>, std::vector<std::string>, Shape>;
/// A node's attributes by name.
using AttrMap = std::map<std::string, AttrValue>;

/// The value as text, for messages and tests: `true`, `3`, `0.5`, `float32`, `SAME`, `[1,2,2,1]`,
/// `[BiasAdd]`, `[?,784]`.
std::string attr_text(const AttrValue& value);

}  // namespace tapeflow
