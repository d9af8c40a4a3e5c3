#pragma once
// Internal: the window arguments shared by conv2d, the pools and layers::conv2d.
#include <array>
#include <cstdint>
#include <vector>

namespace tapeflow::nn::detail {

/// {h, w} from `v` = {h, w} or TensorFlow's {1, h, w, 1}, each positive; anything else is a
/// ValueError naming `op` and `what` ("strides", "ksize").
std::array<std::int64_t, 2> spatial_pair(const char* op, const char* what, const std::vector<int>& v);

}  // namespace tapeflow::nn::detail
