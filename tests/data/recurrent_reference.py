# Reference values of tests/nn/test_recurrent.cpp: run with Debian 12's python3-torch (1.13),
# /usr/bin/python3 tests/data/recurrent_reference.py; it writes tests/data/recurrent_reference.txt,
# one line per tensor: a name, then the values.
#
# The LSTM is PyTorch's nn.LSTM (2 layers, batch first) with tapeflow's TensorFlow-layout weights
# rearranged into PyTorch's (gate blocks i, j, f, o -> i, f, g=j, o; transposed; forget_bias 0,
# which PyTorch does not have). The GRU is TensorFlow's GRUCell written out in torch ops (PyTorch's
# GRU resets after the product, TensorFlow's before).
import math, torch
out = open(__file__.replace(".py", ".txt"), "w")
def emit(name, t): print(name, " ".join(f"{v:.15g}" for v in t.detach().reshape(-1).tolist()), file=out)
def vals(shape, a, b, s):
    n = 1
    for d in shape: n *= d
    return torch.tensor([s * math.sin(a * i + b) for i in range(n)], dtype=torch.float64).reshape(shape)
B, T, F, H = 2, 4, 3, 4
x = vals((B, T, F), 0.31, 0.2, 1.0).requires_grad_()
w_out = vals((B, T, H), 0.17, 0.6, 1.0)
# tapeflow's parameters, in registration order: cell_0/weight [F+H, 4H], cell_0/bias [4H],
# cell_1/weight [2H, 4H], cell_1/bias [4H]; the i-th is vals(shape, 0.1 + 0.07 i, 0.5 i, 0.6).
shapes = [(F + H, 4 * H), (4 * H,), (2 * H, 4 * H), (4 * H,)]
p = [vals(s, 0.1 + 0.07 * i, 0.5 * i, 0.6) for i, s in enumerate(shapes)]
lstm = torch.nn.LSTM(F, H, num_layers=2, batch_first=True, dtype=torch.float64)
def to_torch(w):  # [.., 4H] blocks i, j, f, o -> i, f, j, o
    i, j, f, o = w.split(H, -1)
    return torch.cat([i, f, j, o], -1)
with torch.no_grad():
    for k, (W, b) in enumerate([(p[0], p[1]), (p[2], p[3])]):
        depth = W.shape[0] - H
        getattr(lstm, f"weight_ih_l{k}").copy_(to_torch(W[:depth]).T)
        getattr(lstm, f"weight_hh_l{k}").copy_(to_torch(W[depth:]).T)
        getattr(lstm, f"bias_ih_l{k}").copy_(to_torch(b))
        getattr(lstm, f"bias_hh_l{k}").zero_()
h0 = vals((2, B, H), 0.4, 0.1, 0.5)
c0 = vals((2, B, H), 0.23, 0.9, 0.5)
y, (hn, cn) = lstm(x, (h0, c0))
emit("lstm/y", y); emit("lstm/hn", hn); emit("lstm/cn", cn)
gx, gw = torch.autograd.grad((y * w_out).sum() + hn.sum() * 0.5, [x, lstm.weight_hh_l0])
emit("lstm/dx", gx)
i, f, j, o = gw.T.split(H, -1)  # back to tapeflow's layout: rows of cell_0/weight after the input's
emit("lstm/dweight_h0", torch.cat([i, j, f, o], -1))

# TensorFlow's GRUCell, one layer: gates_weight [F+H, 2H], gates_bias [2H], candidate_weight
# [F+H, H], candidate_bias [H], the i-th vals(shape, 0.12 + 0.05 i, 0.4 i, 0.7).
gshapes = [(F + H, 2 * H), (2 * H,), (F + H, H), (H,)]
Wg, bg, Wc, bc = [vals(s, 0.12 + 0.05 * i, 0.4 * i, 0.7).requires_grad_() for i, s in enumerate(gshapes)]
h = vals((B, H), 0.5, 0.3, 0.5)
ys = []
for t in range(T):
    xt = x[:, t]
    r, u = torch.sigmoid(torch.cat([xt, h], 1) @ Wg + bg).split(H, 1)
    c = torch.tanh(torch.cat([xt, r * h], 1) @ Wc + bc)
    h = u * h + (1 - u) * c
    ys.append(h)
gy = torch.stack(ys, 1)
emit("gru/y", gy)
gx, gwg, gwc = torch.autograd.grad((gy * w_out).sum(), [x, Wg, Wc])
emit("gru/dx", gx); emit("gru/dgates_weight", gwg); emit("gru/dcandidate_weight", gwc)
