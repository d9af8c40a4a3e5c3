# Reference values of tests/nn/test_sequence_modules.cpp: run with Debian 12's python3-torch
# (1.13), /usr/bin/python3 tests/data/sequence_modules_reference.py; it writes
# tests/data/sequence_modules_reference.txt, one line per tensor: a name, then the values.
import math, torch
def vals(shape, a, b, s):
    n = 1
    for d in shape: n *= d
    return torch.tensor([s * math.sin(a * i + b) for i in range(n)], dtype=torch.float64).reshape(shape)
out = open(__file__.replace("_reference.py", "_reference.txt"), "w")
def emit(name, t): print(name, " ".join(f"{v:.15g}" for v in t.detach().reshape(-1).tolist()), file=out)
E, H, F, B, T = 8, 2, 16, 2, 5
# tapeflow's parameters in registration order, tapeflow's layout ([in, out]), filled with
# vals(shape, 0.1 + 0.05 i, 0.3 i, 0.5) for the i-th.
names = [("self_attn/in_proj_weight", (E, 3 * E)), ("self_attn/in_proj_bias", (3 * E,)),
         ("self_attn/out_proj/weight", (E, E)), ("self_attn/out_proj/bias", (E,)),
         ("linear1/weight", (E, F)), ("linear1/bias", (F,)), ("linear2/weight", (F, E)), ("linear2/bias", (E,)),
         ("norm1/weight", (E,)), ("norm1/bias", (E,)), ("norm2/weight", (E,)), ("norm2/bias", (E,))]
p = {n: vals(s, 0.1 + 0.05 * i, 0.3 * i, 0.5) for i, (n, s) in enumerate(names)}
for causal in (False, True):
    layer = torch.nn.TransformerEncoderLayer(E, H, F, dropout=0.0, activation="gelu", batch_first=True,
                                             norm_first=True, dtype=torch.float64)
    with torch.no_grad():
        layer.self_attn.in_proj_weight.copy_(p["self_attn/in_proj_weight"].T)
        layer.self_attn.in_proj_bias.copy_(p["self_attn/in_proj_bias"])
        layer.self_attn.out_proj.weight.copy_(p["self_attn/out_proj/weight"].T)
        layer.self_attn.out_proj.bias.copy_(p["self_attn/out_proj/bias"])
        layer.linear1.weight.copy_(p["linear1/weight"].T); layer.linear1.bias.copy_(p["linear1/bias"])
        layer.linear2.weight.copy_(p["linear2/weight"].T); layer.linear2.bias.copy_(p["linear2/bias"])
        for n in ("norm1", "norm2"):
            getattr(layer, n).weight.copy_(p[n + "/weight"]); getattr(layer, n).bias.copy_(p[n + "/bias"])
    x = vals((B, T, E), 0.21, 0.4, 1.0).requires_grad_()
    mask = torch.triu(torch.full((T, T), float("-inf"), dtype=torch.float64), 1) if causal else None
    y = layer(x, src_mask=mask)
    tag = "causal" if causal else "full"
    emit(tag + "/y", y)
    w = vals((B, T, E), 0.13, 0.9, 1.0)
    gx, gw = torch.autograd.grad((y * w).sum(), [x, layer.linear1.weight])
    emit(tag + "/dx", gx)
    emit(tag + "/dlinear1_weight", gw.T)  # tapeflow's [in, out] layout
