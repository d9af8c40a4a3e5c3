# The PyTorch run that samples/char_lstm is compared with (README): the same model, data, batch,
# optimizer, schedule, clipping and steps, in PyTorch 1.13 (Debian 12's python3-torch). Run from
# the repository's root:
#   /usr/bin/python3 samples/char_lstm/pytorch_reference.py [--steps 2000] [--seed 1]
# PyTorch's LSTM is TensorFlow's BasicLSTMCell up to its parametrisation: the forget gates' bias
# starts at 1 here (TensorFlow's forget_bias = 1), the other biases at 0, the weights uniform in
# +-1/sqrt(256) = +-0.0625, the bound of the sample's glorot uniform [512, 1024] kernel; the head
# is glorot uniform with a zero bias, as the sample's Linear.
import argparse, math, os, time
import torch

p = argparse.ArgumentParser()
p.add_argument("--steps", type=int, default=2000)
p.add_argument("--seed", type=int, default=1)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--data_dir", default="/usr/share/games/fortunes")
a = p.parse_args()
torch.manual_seed(a.seed)
torch.set_num_threads(a.threads)
B, T, E, HID, L, LR, WD, WARMUP, CLIP = 32, 128, 256, 256, 2, 3e-3, 0.01, 100, 1.0

files = sorted(f for f in os.listdir(a.data_dir) if "." not in f and os.path.isfile(os.path.join(a.data_dir, f)))
data = b"".join(open(os.path.join(a.data_dir, f), "rb").read() for f in files)
tokens = torch.tensor(list(data), dtype=torch.long)
n_val = len(tokens) // 10
train, val = tokens[: len(tokens) - n_val], tokens[len(tokens) - n_val :]

class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(256, E)
        self.lstm = torch.nn.LSTM(E, HID, L, batch_first=True)
        self.head = torch.nn.Linear(HID, 256)
        with torch.no_grad():
            for name, p in self.lstm.named_parameters():
                if name.startswith("bias"):
                    p.zero_()
                    if name.startswith("bias_ih"): p[HID : 2 * HID] = 1.0  # gates i, f, g, o: f
            torch.nn.init.xavier_uniform_(self.head.weight)
            self.head.bias.zero_()
    def forward(self, ids, state=None):
        out, state = self.lstm(self.embed(ids), state)
        return self.head(out), state

model = Model()
decay = [p for p in model.parameters() if p.dim() >= 2]
no_decay = [p for p in model.parameters() if p.dim() < 2]
opt = torch.optim.AdamW([{"params": decay}, {"params": no_decay, "weight_decay": 0.0}], lr=LR, weight_decay=WD)
def lr_at(step):
    if step < WARMUP: return LR * step / WARMUP
    s = min(step - WARMUP, max(1, a.steps - WARMUP))
    return LR * 0.5 * (1 + math.cos(math.pi * s / max(1, a.steps - WARMUP)))
start = time.time()
for step in range(a.steps):
    for g in opt.param_groups: g["lr"] = lr_at(step)
    starts = torch.randint(0, len(train) - T, (B,))
    w = torch.stack([train[s : s + T + 1] for s in starts])
    logits, _ = model(w[:, :-1])
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 256), w[:, 1:].reshape(-1))
    opt.zero_grad(); loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
    opt.step()
    if step % 100 == 0: print(f"step {step} loss {loss.item():.4f}", flush=True)
seconds = time.time() - start
model.eval()
rows = val[: (len(val) // B) * B].reshape(B, -1)
total, count, state = 0.0, 0, None
with torch.no_grad():
    for c in range(0, rows.shape[1] - 1, T):  # the states carried from window to window
        w = rows[:, c : c + T + 1]
        logits, state = model(w[:, :-1], state)
        total += torch.nn.functional.cross_entropy(logits.reshape(-1, 256), w[:, 1:].reshape(-1), reduction="sum").item()
        count += w[:, 1:].numel()
print(f"final: val_loss={total / count:.4f} steps={a.steps} seconds={seconds:.1f} tokens_per_s={a.steps * B * T / seconds:.0f}")
