// Image summaries as TensorFlow 1.x's ImageSummary op writes them: per-image rescaling of float
// images to uint8 (summary_image_op.cc's NormalizeFloatImage), PNG encoding with libpng, tags
// "<tag>/image" or "<tag>/image/<i>".
#include <png.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include <fmt/format.h>

#include "summary/encode.h"

namespace tapeflow::summary::internal {

namespace {

// Pixels with a non-finite channel take this colour (TensorFlow's default bad_color, red),
// truncated to the image's channels.
constexpr std::uint8_t kBadColor[4] = {255, 0, 0, 255};

// NormalizeFloatImage: min and max over the pixels whose channels are all finite (in float);
// if min < 0, v * 127/max(|min|, |max|) + 128, else v * 255/max (scale 0 when that max is below
// 1e-6); the result truncated to uint8.
template <class T>
void normalize_float_image(const T* values, std::int64_t pixels, int depth, std::uint8_t* out) {
  auto finite = [&](std::int64_t p) {
    for (int c = 0; c < depth; ++c)
      if (!std::isfinite(values[p * depth + c])) return false;
    return true;
  };
  float image_min = std::numeric_limits<float>::infinity();
  float image_max = -image_min;
  for (std::int64_t p = 0; p < pixels; ++p) {
    if (!finite(p)) continue;
    for (int c = 0; c < depth; ++c) {
      const auto v = static_cast<float>(values[p * depth + c]);
      image_min = std::min(image_min, v);
      image_max = std::max(image_max, v);
    }
  }
  const float kZeroThreshold = 1e-6f;
  T scale, offset;
  if (image_min < 0) {
    const float max_val = std::max(std::abs(image_min), std::abs(image_max));
    scale = T(max_val < kZeroThreshold ? 0.0f : 127.0f / max_val);
    offset = T(128.0f);
  } else {
    scale = T(image_max < kZeroThreshold ? 0.0f : 255.0f / image_max);
    offset = T(0.0f);
  }
  for (std::int64_t p = 0; p < pixels; ++p) {
    const bool ok = finite(p);
    for (int c = 0; c < depth; ++c)
      out[p * depth + c] = ok ? static_cast<std::uint8_t>(values[p * depth + c] * scale + offset) : kBadColor[c];
  }
}

}  // namespace

void check_image_input(const std::string& who, const Shape& shape, DType dtype) {
  if (shape.rank() != 4 || (shape[3] >= 0 && shape[3] != 1 && shape[3] != 3 && shape[3] != 4))
    throw ShapeError(fmt::format("{}: Tensor must be 4-D [batch, height, width, channels] with channels 1, 3 or 4, "
                                 "not {}; reshape it (an MNIST batch [?,784] is reshape(x, {{-1, 28, 28, 1}}))",
                                 who, shape.str()));
  if (dtype != uint8 && dtype != float32 && dtype != float64)
    throw DTypeError(fmt::format("{}: images must be uint8, float32 or float64, got {} {}; cast them first", who,
                                 dtype_name(dtype), shape.str()));
}

std::string encode_png(const std::uint8_t* pixels, std::int64_t height, std::int64_t width, int channels) {
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  image.width = static_cast<png_uint_32>(width);
  image.height = static_cast<png_uint_32>(height);
  image.format = channels == 1 ? PNG_FORMAT_GRAY : channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_RGBA;
  // 8-bit sRGB samples: libpng adds an sRGB chunk, which viewers display exactly as the
  // chunk-less PNGs of TensorFlow's encoder.
  std::string out(PNG_IMAGE_PNG_SIZE_MAX(image), '\0');
  png_alloc_size_t size = out.size();
  if (!png_image_write_to_memory(&image, out.data(), &size, 0, pixels, 0, nullptr)) {
    std::string message = image.message;
    png_image_free(&image);
    throw ValueError(fmt::format("summary image: PNG encoding of a {}x{}x{} image failed: {}", height, width,
                                 channels, message));
  }
  out.resize(size);
  return out;
}

std::string image_summary(const std::string& who, const std::string& tag, const Tensor& images, int max_outputs) {
  check_image_input(who, images.shape(), images.dtype());
  if (max_outputs < 1)
    throw ValueError(fmt::format("{}: max_outputs must be at least 1, got {}", who, max_outputs));
  const Shape& s = images.shape();
  const std::int64_t batch = s[0], height = s[1], width = s[2];
  const int depth = static_cast<int>(s[3]);
  const std::int64_t limit = std::int64_t{1} << 31;
  if (height >= limit || width >= limit || batch >= limit)
    throw ShapeError(fmt::format("{}: Tensor too large for summary {}", who, s.str()));
  const std::int64_t count = std::min<std::int64_t>(max_outputs, batch);
  if (count > 0 && (height == 0 || width == 0))
    throw ShapeError(fmt::format("{}: cannot encode an empty image (shape {}); images need a height and width of "
                                 "at least 1",
                                 who, s.str()));
  const std::int64_t pixels = height * width;
  const std::int64_t per_image = pixels * depth;
  std::vector<std::uint8_t> buffer(static_cast<std::size_t>(per_image));

  pb::Summary summary;
  for (std::int64_t i = 0; i < count; ++i) {
    const std::uint8_t* data = nullptr;
    if (images.dtype() == uint8) {
      data = images.data<std::uint8_t>() + i * per_image;
    } else {
      if (images.dtype() == float32) normalize_float_image(images.data<float>() + i * per_image, pixels, depth,
                                                           buffer.data());
      else normalize_float_image(images.data<double>() + i * per_image, pixels, depth, buffer.data());
      data = buffer.data();
    }
    pb::Summary::Value* v = summary.add_value();
    // The tag depends on the number of images requested, not produced (as TensorFlow's).
    v->set_tag(max_outputs > 1 ? fmt::format("{}/image/{}", tag, i) : tag + "/image");
    pb::Summary::Image* img = v->mutable_image();
    img->set_height(static_cast<std::int32_t>(height));
    img->set_width(static_cast<std::int32_t>(width));
    img->set_colorspace(depth);
    img->set_encoded_image_string(encode_png(data, height, width, depth));
  }
  return serialize(summary);
}

}  // namespace tapeflow::summary::internal
