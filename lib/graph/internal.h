#pragma once
// Internal helpers shared by the graph sources.
#include <string>
#include <vector>

#include "tapeflow/graph/variables.h"

namespace tapeflow::graph::internal {

/// A value's shape fits a static shape: same rank, and every dimension known on both sides equal.
bool compatible(const Shape& declared, const Shape& actual);

/// A variable called exactly `full_name` (made unique at the top level) whose initializer runs
/// `init` each time: get_variable's variables and the optimizers' slots. Built outside any
/// control_dependencies scope.
Tensor variable_from_initializer(Graph& g, const std::string& full_name, const Shape& shape, DType dtype,
                                 Initializer init, bool trainable, std::vector<std::string> collections);

}  // namespace tapeflow::graph::internal
