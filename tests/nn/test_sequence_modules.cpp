// The modules of today's models: Embedding, LayerNorm, MultiheadAttention, TransformerEncoderLayer.
// The encoder layer against PyTorch 1.13's nn::TransformerEncoderLayer (pre-norm, GELU, no dropout)
// with the same weights: tests/data/sequence_modules_reference.{py,txt}.
#include "helpers.h"
#include "tapeflow/nn.h"

using namespace tapeflow;

BOOST_AUTO_TEST_SUITE(sequence_modules)

BOOST_AUTO_TEST_CASE(encoder_layer_matches_pytorch) {
  const auto ref = tft::read_reference("sequence_modules_reference.txt");
  const std::int64_t E = 8, H = 2, F = 16, B = 2, T = 5;
  for (bool causal : {false, true}) {
    nn::TransformerEncoderLayer layer(
        E, H, {.dim_feedforward = F, .dropout = 0.0, .causal = causal, .dtype = float64});
    BOOST_TEST(layer.named_parameters().size() == 12u);
    tft::fill_parameters(layer, 0.1, 0.05, 0.3, 0.5);
    Tensor x = tft::wave({B, T, E}, 0.21, 0.4, 1.0).requires_grad_();
    Tensor y = layer(x);
    const std::string tag = causal ? "causal/" : "full/";
    tft::check_close(y, ref.at(tag + "y"), 1e-10);
    reduce_sum(y * tft::wave({B, T, E}, 0.13, 0.9, 1.0)).backward();
    tft::check_close(x.grad(), ref.at(tag + "dx"), 1e-9);
    tft::check_close(layer.linear1->weight().grad(), ref.at(tag + "dlinear1_weight"), 1e-10);
  }
}

BOOST_AUTO_TEST_CASE(encoder_layer_gradients_and_modes) {
  nn::TransformerEncoderLayer layer(4, 2, {.dim_feedforward = 6, .dropout = 0.0, .causal = true, .dtype = float64});
  // Every parameter's gradient against finite differences (the inputs of gradcheck are the
  // parameters themselves, updated in place between evaluations).
  std::vector<Tensor> params = layer.parameters();
  const Tensor x = tft::rand64({2, 3, 4}).detach();
  tft::check_grad([&](std::span<const Tensor>) { return layer(x); }, params, {}, tft::Order::first);
  BOOST_TEST(layer.str().find("TransformerEncoderLayer(4, nhead=2, dim_feedforward=6, dropout=0, activation=gelu, "
                              "norm_first=true, causal=true,\n  (self_attn): MultiheadAttention(4, num_heads=2, "
                              "causal=true, dtype=float64,") == 0u);
  // Post-norm with dropout: training mode draws masks, eval mode is deterministic.
  nn::TransformerEncoderLayer post(4, 2, {.dim_feedforward = 6, .dropout = 0.5, .norm_first = false, .dtype = float64});
  const Tensor a = post(x), b = post(x);
  BOOST_TEST(a.to_vector<double>() != b.to_vector<double>());
  post.eval();
  BOOST_TEST(post(x).to_vector<double>() == post(x).to_vector<double>());
  TF_CHECK_THROWS_WITH(nn::TransformerEncoderLayer(4, 2, {.dropout = 1.0}), ValueError,
                       "dropout must be in [0, 1) (the probability of dropping an element), got 1");
}

BOOST_AUTO_TEST_CASE(multihead_attention) {
  nn::MultiheadAttention mha(6, 3, {.dtype = float64});
  BOOST_TEST(mha.str() == "MultiheadAttention(6, num_heads=3, dtype=float64,\n  (out_proj): Linear(6, 6, dtype=float64)\n)");
  BOOST_TEST(mha.in_proj_weight().shape().str() == "[6,18]");
  const Tensor x = tft::rand64({2, 4, 6}).detach();
  // Self-attention (one projection) equals attention of the same tensor given three times as
  // separate handles (three projections).
  tft::check_close(mha(x), mha.forward(x, x.detach(), x.detach()).to_vector<double>(), 1e-12);
  // Cross-attention: other lengths for the keys.
  const Tensor memory = tft::rand64({2, 7, 6}).detach();
  BOOST_TEST(mha.forward(x, memory, memory).shape().str() == "[2,4,6]");
  // A padding mask [B, 1, 1, T_k]: the padded keys do not matter.
  const Tensor keep = reshape(tensor({1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, bool_), {2, 1, 1, 10});
  Tensor mem2 = concat({memory, tft::rand64({2, 3, 6}).detach()}, 1);
  const Tensor masked = mha.forward(x, mem2, mem2, keep);
  Tensor mem3 = mem2.clone();
  {
    double* p = mem3.data<double>();  // change the padded positions of batch 0
    for (int t = 5; t < 8; ++t)
      for (int e = 0; e < 6; ++e) p[t * 6 + e] += 10.0;
  }
  tft::check_close(masked, mha.forward(x, mem3, mem3, keep).to_vector<double>(), 1e-12);
  // Causal self-attention: the output at t does not depend on inputs after t.
  nn::MultiheadAttention causal(6, 2, {.causal = true, .dtype = float64});
  Tensor x2 = x.clone();
  {
    double* p = x2.data<double>();
    for (int e = 0; e < 6; ++e) p[3 * 6 + e] = 5.0;  // the last position of batch 0
  }
  tft::check_close(slice(causal(x), {0, 0, 0}, {1, 3, 6}), slice(causal(x2), {0, 0, 0}, {1, 3, 6}).to_vector<double>(),
                   1e-12);
  TF_CHECK_THROWS_WITH(nn::MultiheadAttention(6, 4), ValueError,
                       "MultiheadAttention(6, num_heads=4): num_heads 4 must divide embed_dim 6");
  TF_CHECK_THROWS_WITH(mha(tft::rand64({2, 6})), ShapeError,
                       "MultiheadAttention(6, num_heads=3, dtype=float64): expected query, key and value [batch, time, "
                       "6], got [2,6]");
  TF_CHECK_THROWS_WITH(mha(zeros({2, 3, 6})), DTypeError, "the input is float32 [2,3,6] but the parameters are float64");
}

BOOST_AUTO_TEST_CASE(layer_norm_and_embedding_modules) {
  nn::LayerNorm norm({3, 4}, {.dtype = float64});
  BOOST_TEST(norm.str() == "LayerNorm([3,4], eps=1e-05, dtype=float64)");
  BOOST_TEST(norm.weight().shape().str() == "[3,4]");
  const Tensor x = tft::rand64({2, 3, 4}).detach();
  tft::check_same(norm(x), nn::layer_norm(x, norm.weight(), norm.bias(), 1e-5, 1));
  TF_CHECK_THROWS_WITH(norm(tft::rand64({2, 4, 3})), ShapeError,
                       "LayerNorm([3,4], eps=1e-05, dtype=float64): expected an input [..., 3, 4] ending in the "
                       "normalised shape, got [2,4,3]");
  TF_CHECK_THROWS_WITH(nn::LayerNorm({0}), ValueError, "normalized_shape must be positive, got [0]");

  Generator gen(1);
  nn::Embedding emb(10, 3, {.dtype = float64, .generator = &gen});
  BOOST_TEST(emb.str() == "Embedding(10, 3, dtype=float64)");
  const Tensor ids = tensor({{1, 9}, {1, 0}}, int32);
  Tensor out = emb(ids);
  BOOST_TEST(out.shape().str() == "[2,2,3]");
  tft::check_same(slice(out, {0, 0, 0}, {1, 1, 3}), reshape(slice(emb.weight(), {1, 0}, {1, 3}), {1, 1, 3}));
  reduce_sum(out).backward();
  tft::check_close(reduce_sum(emb.weight().grad(), {1}), {3, 6, 0, 0, 0, 0, 0, 0, 0, 3});  // id 1 twice
  // N(0, 1) initialisation, as PyTorch's.
  nn::Embedding big(1000, 100);
  const double mean = reduce_mean(big.weight()).item<double>();
  const double sd = std::sqrt(reduce_mean(square(big.weight() - mean)).item<double>());
  BOOST_TEST(std::abs(mean) < 0.01);
  BOOST_TEST(std::abs(sd - 1.0) < 0.01);
  TF_CHECK_THROWS_WITH(emb(tensor({1.0, 2.0})), DTypeError,
                       "Embedding(10, 3, dtype=float64): the ids are float32 [2]; they must be int32 or int64");
  TF_CHECK_THROWS_WITH(emb(tensor({10.0}, int64)), ValueError, "Embedding(10, 3, dtype=float64): embedding_lookup:",
                       "index 10 (at position 0) is out of range [0, 10)");
}

BOOST_AUTO_TEST_SUITE_END()
