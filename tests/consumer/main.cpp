#include <tapeflow/tapeflow.h>

int main() {
  tapeflow::Tensor w = tapeflow::tensor({1.0, 2.0, 3.0});
  w.requires_grad_();
  tapeflow::reduce_sum(w * w).backward();
  fmt::print("grad={}\n", fmt::join(w.grad().to_vector<float>(), ","));
}
