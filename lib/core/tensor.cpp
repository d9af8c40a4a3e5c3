#include "tapeflow/tensor.h"

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <ostream>

#include "core/checked.h"
#include "core/dispatch.h"
#include "tapeflow/autograd.h"
#include "tapeflow/ops/elementwise.h"

namespace tapeflow {
namespace {


// Every op allocates its output and frees temporaries, and a training loop asks for the same
// sizes step after step. aligned_alloc is slow for small blocks and, for large ones, hands back
// fresh pages that fault on first touch. So each thread keeps the blocks it frees: up to 64 of
// each small size class, and large blocks (rounded to 4 KiB) up to kLargeCacheBytes in all,
// reused for a request of the same rounded size.
constexpr std::size_t kClasses[] = {64, 128, 256, 512};
constexpr std::size_t kCachePerClass = 64;
constexpr std::size_t kLargeCacheBytes = std::size_t{256} << 20;
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kCacheBlocks = false;  // let AddressSanitizer see every free and reuse
#else
constexpr bool kCacheBlocks = true;
#endif

// Set when this thread's cache is destroyed: storages freed later (by objects with static
// storage duration, such as the global default Graph, whose destructors run after the main
// thread's thread_local ones) go straight back to the system.
thread_local bool block_cache_destroyed = false;

struct BlockCache {
  std::vector<void*> small[std::size(kClasses)];
  std::vector<std::pair<std::size_t, void*>> large;
  std::size_t large_bytes = 0;
  ~BlockCache() {
    block_cache_destroyed = true;
    for (auto& v : small)
      for (void* p : v) std::free(p);
    for (auto& [size, p] : large) std::free(p);
  }
};
thread_local BlockCache block_cache;

int size_class(std::size_t rounded) {
  for (std::size_t i = 0; i < std::size(kClasses); ++i)
    if (rounded == kClasses[i]) return static_cast<int>(i);
  return -1;
}

std::size_t round_up(std::size_t n) {
  for (std::size_t c : kClasses)
    if (n <= c) return c;
  return (n + 4095) / 4096 * 4096;
}

void* take_cached(std::size_t rounded) {
  if (!kCacheBlocks || block_cache_destroyed) return nullptr;
  if (int c = size_class(rounded); c >= 0) {
    auto& v = block_cache.small[c];
    if (v.empty()) return nullptr;
    void* p = v.back();
    v.pop_back();
    return p;
  }
  auto& large = block_cache.large;
  for (std::size_t i = large.size(); i-- > 0;)
    if (large[i].first == rounded) {
      void* p = large[i].second;
      large.erase(large.begin() + static_cast<std::ptrdiff_t>(i));
      block_cache.large_bytes -= rounded;
      return p;
    }
  return nullptr;
}

void give_back(void* p, std::size_t rounded) {
  if (!kCacheBlocks || block_cache_destroyed) return std::free(p);
  if (int c = size_class(rounded); c >= 0) {
    if (block_cache.small[c].size() < kCachePerClass) return block_cache.small[c].push_back(p);
  } else if (rounded <= kLargeCacheBytes) {
    auto& large = block_cache.large;
    while (!large.empty() && block_cache.large_bytes + rounded > kLargeCacheBytes) {  // oldest go first
      std::free(large.front().second);
      block_cache.large_bytes -= large.front().first;
      large.erase(large.begin());
    }
    large.emplace_back(rounded, p);
    block_cache.large_bytes += rounded;
    return;
  }
  std::free(p);
}

}  // namespace

Storage::Storage(std::size_t n) : bytes(n) {
  if (n <= kInline) {
    data = inline_data;
    return;
  }
  const std::size_t rounded = round_up(n);
  data = take_cached(rounded);
  if (data) return;
  data = std::aligned_alloc(64, rounded);
  if (!data) throw std::bad_alloc();
}

Storage::~Storage() {
  if (data != inline_data) give_back(data, round_up(bytes));
}


// ---------------------------------------------------------------------------- Tensor

Tensor Tensor::empty(const Shape& shape, DType dtype) {
  if (!shape.is_fully_known())
    throw ShapeError(fmt::format("cannot allocate a tensor of partly unknown shape {}", shape.str()));
  const auto bytes = detail::byte_size(shape, dtype);
  if (!bytes)
    throw ShapeError(fmt::format("a tensor of shape {} and dtype {} would have more bytes than any machine holds",
                                 shape.str(), dtype_name(dtype)));
  auto impl = std::make_shared<TensorImpl>();
  try {
    impl->storage = std::make_shared<Storage>(static_cast<std::size_t>(*bytes));
  } catch (const std::bad_alloc&) {
    throw MemoryError(fmt::format("cannot allocate {} bytes ({:.3g} GB) for a tensor of shape {} and dtype {}: out of "
                                  "memory",
                                  *bytes, static_cast<double>(*bytes) / 1e9, shape.str(), dtype_name(dtype)));
  }
  impl->shape = shape;
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

void Tensor::throw_undefined() {
  throw ValueError("this tensor is undefined (default-constructed, or a gradient that was never computed)");
}

void Tensor::throw_dtype_mismatch(DType expected) const {
  throw DTypeError(fmt::format("tensor {} has dtype {}, but was accessed as {}; use to({}) to convert",
                                 impl_->shape.str(), dtype_name(impl_->dtype), dtype_name(expected),
                                 dtype_name(expected)));
}

namespace {
Storage& storage_of(const TensorImpl& impl) {
  if (!impl.storage) [[unlikely]]
    throw Error(fmt::format("tensor '{}' (shape {}, {}) is a graph tensor: it has no value until a Session runs "
                            "it; fetch it with Session::run, or use it as an input of graph ops",
                            impl.name, impl.shape.str(), dtype_name(impl.dtype)));
  return *impl.storage;
}
}  // namespace

void* Tensor::raw_data() const { return storage_of(checked()).data; }
std::uint64_t Tensor::version() const { return storage_of(checked()).version; }
void Tensor::bump_version() const { ++storage_of(checked()).version; }
std::size_t Tensor::nbytes() const { return static_cast<std::size_t>(numel()) * dtype_size(dtype()); }

template <class T>
T Tensor::item() const {
  const void* data = raw_data();  // a graph tensor has none: say so first
  if (numel() != 1)
    throw ShapeError(fmt::format("item(): the tensor must have exactly one element, got shape {} ({} elements)",
                                 shape().str(), numel()));
  return detail::visit_dtype(dtype(), [&]<class S>() { return static_cast<T>(*static_cast<const S*>(data)); });
}

template <class T>
std::vector<T> Tensor::to_vector() const {
  std::vector<T> out(static_cast<std::size_t>(numel()));
  detail::visit_dtype(dtype(), [&]<class S>() {
    const S* p = static_cast<const S*>(raw_data());
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<T>(p[i]);
  });
  return out;
}

#define TAPEFLOW_INSTANTIATE(T) \
  template T Tensor::item<T>() const; \
  template std::vector<T> Tensor::to_vector<T>() const;
TAPEFLOW_INSTANTIATE(float)
TAPEFLOW_INSTANTIATE(double)
TAPEFLOW_INSTANTIATE(std::int32_t)
TAPEFLOW_INSTANTIATE(std::int64_t)
TAPEFLOW_INSTANTIATE(std::uint8_t)
TAPEFLOW_INSTANTIATE(bool)
#undef TAPEFLOW_INSTANTIATE

Tensor Tensor::clone() const {
  Tensor out = empty(shape(), dtype());
  std::memcpy(out.raw_data(), raw_data(), nbytes());
  return out;
}

Tensor Tensor::to(DType dt) const { return cast(*this, dt); }

Tensor Tensor::detach() const {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = checked().storage;
  impl->shape = impl_->shape;
  impl->dtype = impl_->dtype;
  return Tensor(std::move(impl));
}

namespace {
std::atomic<std::uint64_t> next_hook_id{1};
}  // namespace

HookHandle Tensor::register_hook(GradHook hook) const {
  const TensorImpl& impl = checked();
  if (!hook) throw ValueError("register_hook: the hook is empty");
  if (impl.node) {  // a graph tensor: its node's list, shared by the node's handles (see Session::run)
    if (!is_floating(impl.dtype) || impl.output_index < 0 || !impl.hooks)
      throw ValueError(fmt::format("register_hook: '{}' is not a float output of a graph node, so no gradient "
                                   "flows through it",
                                   impl.name));
  } else if (!impl.requires_grad) {
    throw AutogradError(fmt::format("register_hook: the tensor {} does not require grad, so no gradient will reach "
                                    "a hook on it (call requires_grad_() on a leaf first)",
                                    impl.shape.str()));
  }
  // A computed tensor's hooks are its record's, for its output; a leaf's and a graph tensor's its own.
  std::shared_ptr<autograd::HookList>& list = impl.grad_fn ? impl.grad_fn->hooks : impl_->hooks;
  if (!list) list = std::make_shared<autograd::HookList>();
  const std::size_t output = impl.grad_fn || impl.node ? static_cast<std::size_t>(impl.output_index) : 0;
  HookHandle handle;
  handle.id_ = next_hook_id.fetch_add(1);
  handle.list_ = list;
  list->entries.push_back({handle.id_, output, std::move(hook)});
  return handle;
}

void HookHandle::remove() {
  if (auto list = list_.lock())
    std::erase_if(list->entries, [this](const autograd::HookList::Entry& e) { return e.id == id_; });
  list_.reset();
}

Tensor& Tensor::requires_grad_(bool on) {
  if (!checked().grad_fn) {
    if (on && !is_floating(impl_->dtype))
      throw DTypeError(fmt::format("requires_grad_: only float32/float64 tensors can require gradients, got {} {}",
                                   dtype_name(impl_->dtype), impl_->shape.str()));
    impl_->requires_grad = on;
  } else if (!on) {
    throw AutogradError("requires_grad_(false) on a computed tensor; use detach() to cut it from the tape");
  }
  return *this;
}

Tensor Tensor::grad() const { return Tensor(checked().grad); }

void Tensor::set_grad(const Tensor& g) {
  checked();
  if (g.defined() && g.shape() != impl_->shape)
    throw ShapeError(fmt::format("set_grad: gradient of shape {} for a tensor of shape {}", g.shape().str(),
                                 impl_->shape.str()));
  impl_->grad = g.impl();
}

void Tensor::backward(const Tensor& gradient, BackwardOptions options) const {
  Tensor self = *this;
  if (gradient.defined())
    autograd::backward(std::span<const Tensor>(&self, 1), std::span<const Tensor>(&gradient, 1), options);
  else
    autograd::backward(std::span<const Tensor>(&self, 1), {}, options);
}

// ---------------------------------------------------------------------------- printing

namespace {

template <class T>
std::string format_element(T v) {
  if constexpr (std::is_same_v<T, bool>) return v ? "true" : "false";
  else if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    return fmt::format("{:.6g}", v);
  } else return fmt::format("{}", static_cast<std::int64_t>(v));
}

template <class T>
void format_rec(std::string& out, const T* p, const Shape& s, int d, std::int64_t offset,
                const std::array<std::int64_t, Shape::kMaxRank>& st, std::size_t width) {
  if (d == s.rank()) {
    std::string e = format_element(p[offset]);
    if (e.size() < width) out.append(width - e.size(), ' ');
    out += e;
    return;
  }
  constexpr std::int64_t kEdge = 3;
  std::int64_t n = s[d];
  bool elide = n > 2 * kEdge + 1 && s.numel() > 1000;
  out += '[';
  for (std::int64_t i = 0; i < n; ++i) {
    if (elide && i == kEdge) {
      out += "...";
      i = n - kEdge - 1;
      out += d == s.rank() - 1 ? ", " : ",\n" + std::string(static_cast<std::size_t>(d) + 8, ' ');
      continue;
    }
    format_rec(out, p, s, d + 1, offset + i * st[static_cast<std::size_t>(d)], st, width);
    if (i + 1 < n) {
      if (d == s.rank() - 1) out += ", ";
      else out += ",\n" + std::string(static_cast<std::size_t>(d) + 8, ' ');
    }
  }
  out += ']';
}

}  // namespace

std::string Tensor::str() const {
  if (!defined()) return "tensor(undefined)";
  if (is_symbolic()) {
    if (impl_->output_index < 0) return fmt::format("Operation(\"{}\")", impl_->name);
    return fmt::format("Tensor(\"{}\", shape={}, dtype={})", impl_->name, shape().str(), dtype_name(dtype()));
  }
  std::string body;
  detail::visit_dtype(dtype(), [&]<class T>() {
    const T* p = static_cast<const T*>(raw_data());
    std::size_t width = 0;
    for (std::int64_t i = 0; i < numel(); ++i) width = std::max(width, format_element(p[i]).size());
    format_rec(body, p, shape(), 0, 0, strides_of(shape()), width);
  });
  std::string extra;
  if (requires_grad()) extra = grad_fn() ? fmt::format(", grad_fn={}", grad_fn()->name) : ", requires_grad=true";
  return fmt::format("tensor({}, shape={}, dtype={}{})", body, shape().str(), dtype_name(dtype()), extra);
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.str(); }

// ---------------------------------------------------------------------------- factories

namespace {
/// A factory's shape must be fully known: a ShapeError naming the factory otherwise.
void check_factory_shape(const char* factory, const Shape& shape) {
  if (!shape.is_fully_known())
    throw ShapeError(fmt::format("{}: the shape {} has an unknown dimension; a tensor's shape must be fully known",
                                 factory, shape.str()));
}
}  // namespace

Tensor full(const Shape& shape, double value, DType dtype) {
  check_factory_shape("full", shape);
  Tensor t = Tensor::empty(shape, dtype);
  fill_(t, value);
  return t;
}
Tensor zeros(const Shape& shape, DType dtype) {
  check_factory_shape("zeros", shape);
  Tensor t = Tensor::empty(shape, dtype);
  std::memset(t.raw_data(), 0, t.nbytes());
  return t;
}
Tensor ones(const Shape& shape, DType dtype) {
  check_factory_shape("ones", shape);
  return full(shape, 1.0, dtype);
}
Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), t.dtype()); }
Tensor ones_like(const Tensor& t) { return ones(t.shape(), t.dtype()); }
Tensor scalar(double value, DType dtype) { return full(Shape{}, value, dtype); }

Tensor arange(double start, double stop, double step, DType dtype) {
  if (step == 0) throw ValueError("arange: step must not be zero");
  auto n = static_cast<std::int64_t>(std::ceil((stop - start) / step));
  if (n < 0) n = 0;
  Tensor t = Tensor::empty(Shape{n}, dtype);
  detail::visit_numeric("arange", t, [&]<class T>() {
    T* p = t.data<T>();
    for (std::int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(start + static_cast<double>(i) * step);
  });
  return t;
}

template <class T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape) {
  if (!shape.is_fully_known() || shape.numel() != static_cast<std::int64_t>(values.size()))
    throw ShapeError(fmt::format("from_vector: {} values cannot fill shape {} ({} elements)", values.size(),
                                 shape.str(), shape.numel()));
  Tensor t = Tensor::empty(shape, dtype_of<T>);
  T* p = t.data<T>();
  for (std::size_t i = 0; i < values.size(); ++i) p[i] = values[i];
  return t;
}
template Tensor from_vector(const std::vector<float>&, const Shape&);
template Tensor from_vector(const std::vector<double>&, const Shape&);
template Tensor from_vector(const std::vector<std::int32_t>&, const Shape&);
template Tensor from_vector(const std::vector<std::int64_t>&, const Shape&);
template Tensor from_vector(const std::vector<std::uint8_t>&, const Shape&);
template Tensor from_vector(const std::vector<bool>&, const Shape&);

namespace {

void flatten_into(std::initializer_list<double> v, std::vector<double>& out, Shape& shape, int depth,
                  bool first) {
  auto n = static_cast<std::int64_t>(v.size());
  if (first) shape.push_back(n);
  else if (shape[depth] != n)
    throw ShapeError(fmt::format("tensor(): ragged nested list: {} elements at depth {} where {} were expected", n,
                                 depth, shape[depth]));
  out.insert(out.end(), v.begin(), v.end());
}

template <class L>
void flatten_into(std::initializer_list<L> v, std::vector<double>& out, Shape& shape, int depth, bool first) {
  auto n = static_cast<std::int64_t>(v.size());
  if (first) shape.push_back(n);
  else if (shape[depth] != n)
    throw ShapeError(fmt::format("tensor(): ragged nested list: {} elements at depth {} where {} were expected", n,
                                 depth, shape[depth]));
  bool f = first;
  for (const auto& inner : v) {
    flatten_into(inner, out, shape, depth + 1, f);
    f = false;
  }
  if (n == 0) throw ShapeError("tensor(): an empty inner list leaves the shape undetermined");
}

template <class L>
Tensor tensor_from_nested(std::initializer_list<L> v, DType dtype) {
  std::vector<double> flat;
  Shape shape;
  flatten_into(v, flat, shape, 0, true);
  Tensor t = Tensor::empty(shape, dtype);
  detail::visit_dtype(dtype, [&]<class T>() {
    T* p = t.data<T>();
    for (std::size_t i = 0; i < flat.size(); ++i) p[i] = static_cast<T>(flat[i]);
  });
  return t;
}

}  // namespace

Tensor tensor(std::initializer_list<double> v, DType dtype) { return tensor_from_nested(v, dtype); }
Tensor tensor(std::initializer_list<std::initializer_list<double>> v, DType dtype) {
  return tensor_from_nested(v, dtype);
}
Tensor tensor(std::initializer_list<std::initializer_list<std::initializer_list<double>>> v, DType dtype) {
  return tensor_from_nested(v, dtype);
}
Tensor tensor(
    std::initializer_list<std::initializer_list<std::initializer_list<std::initializer_list<double>>>> v,
    DType dtype) {
  return tensor_from_nested(v, dtype);
}

}  // namespace tapeflow
