# Reference values of tests/nn/test_sequence_ops.cpp: run with Debian 12's python3-torch (1.13),
# /usr/bin/python3 tests/data/sequence_ops_reference.py; the printed lists are pasted into the test.
import math, torch
torch.set_printoptions(precision=12)
def vals(n, a=0.37, b=0.1, s=1.0):
    return [s*math.sin(a*i+b) for i in range(n)]
def fmt(t): return "{" + ", ".join(f"{v:.12g}" for v in t.detach().reshape(-1).tolist()) + "}"
x = torch.tensor([-3, -1, -0.5, 0, 0.5, 1, 3], dtype=torch.float64, requires_grad=True)
print("gelu", fmt(torch.nn.functional.gelu(x)))
print("gelu_tanh", fmt(torch.nn.functional.gelu(x, approximate="tanh")))
print("silu", fmt(torch.nn.functional.silu(x)))
g, = torch.autograd.grad(torch.nn.functional.gelu(x).sum(), x); print("dgelu", fmt(g))
g, = torch.autograd.grad(torch.nn.functional.gelu(x, approximate="tanh").sum(), x); print("dgelu_tanh", fmt(g))
g, = torch.autograd.grad(torch.nn.functional.silu(x).sum(), x); print("dsilu", fmt(g))
# layer norm
x = torch.tensor(vals(24, s=2.0), dtype=torch.float64).reshape(2,3,4).requires_grad_()
gm = torch.tensor([1.0, 0.5, -1.0, 2.0], dtype=torch.float64, requires_grad=True)
bt = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64, requires_grad=True)
y = torch.nn.functional.layer_norm(x, (4,), gm, bt, 1e-5)
print("ln", fmt(y))
w = torch.tensor(vals(24, 0.11, 0.3), dtype=torch.float64).reshape(2,3,4)
dx, dg, db = torch.autograd.grad((y*w).sum(), [x, gm, bt])
print("ln_dx", fmt(dx)); print("ln_dg", fmt(dg)); print("ln_db", fmt(db))
# layer norm over the last two axes, no affine
y2 = torch.nn.functional.layer_norm(x, (3,4), None, None, 1e-5)
print("ln2", fmt(y2))
# attention
q = torch.tensor(vals(24, 0.5, 0.2), dtype=torch.float64).reshape(1,2,3,4).requires_grad_()
k = torch.tensor(vals(32, 0.3, 0.7), dtype=torch.float64).reshape(1,2,4,4).requires_grad_()
v = torch.tensor(vals(40, 0.23, 1.1), dtype=torch.float64).reshape(1,2,4,5).requires_grad_()
def sdpa(q, k, v, attn_mask=None, is_causal=False, scale=None):
    s = q @ k.transpose(-1, -2) * (scale if scale else 1/math.sqrt(q.shape[-1]))
    if is_causal:
        s = s.masked_fill(~torch.ones(s.shape[-2], s.shape[-1], dtype=torch.bool).tril(), float("-inf"))
    if attn_mask is not None:
        s = s.masked_fill(~attn_mask, float("-inf")) if attn_mask.dtype == torch.bool else s + attn_mask
    return torch.softmax(s, -1) @ v
o = sdpa(q, k, v)
print("att", fmt(o))
wo = torch.tensor(vals(30, 0.17, 0.5), dtype=torch.float64).reshape(1,2,3,5)
dq, dk, dv = torch.autograd.grad((o*wo).sum(), [q, k, v])
print("att_dq", fmt(dq)); print("att_dk", fmt(dk)); print("att_dv", fmt(dv))
oc = sdpa(q, k, v, is_causal=True)
print("att_causal", fmt(oc))
m = torch.tensor([[True, False, True, True]])  # [1, 4] broadcast
om = sdpa(q, k, v, attn_mask=m, scale=0.7)
print("att_mask", fmt(om))
