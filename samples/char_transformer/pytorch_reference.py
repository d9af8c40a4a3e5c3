# The PyTorch run that samples/char_transformer is compared with (README): the same model,
# initialisation, data, batch, optimizer, schedule, clipping and steps, in PyTorch 1.13 (Debian
# 12's python3-torch). Run from the repository's root:
#   /usr/bin/python3 samples/char_transformer/pytorch_reference.py [--steps 2000] [--seed 1]
# The last line reads like the sample's: final: val_loss=... steps=... seconds=... tokens_per_s=...
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
B, T, W, L, H, LR, WD, WARMUP, CLIP = 32, 128, 128, 4, 4, 1e-3, 0.01, 100, 1.0

# The corpus as tapeflow's fortunes::read_data_sets reads it: the files without a dot, sorted by
# name, concatenated; the last floor(n / 10) bytes held out.
files = sorted(f for f in os.listdir(a.data_dir) if "." not in f and os.path.isfile(os.path.join(a.data_dir, f)))
data = b"".join(open(os.path.join(a.data_dir, f), "rb").read() for f in files)
tokens = torch.tensor(list(data), dtype=torch.long)
n_val = len(tokens) // 10
train, val = tokens[: len(tokens) - n_val], tokens[len(tokens) - n_val :]

class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = torch.nn.Embedding(256, W)
        self.pos = torch.nn.Embedding(T, W)
        self.blocks = torch.nn.ModuleList(
            torch.nn.TransformerEncoderLayer(W, H, 4 * W, dropout=0.0, activation="gelu", batch_first=True,
                                             norm_first=True) for _ in range(L))
        self.norm = torch.nn.LayerNorm(W)
        self.head = torch.nn.Linear(W, 256)
        # GPT-2's initialisation, as the sample's: N(0, 0.02) matrices, zero biases, LayerNorm 1 and 0.
        norm_scales = {id(m.weight) for m in self.modules() if isinstance(m, torch.nn.LayerNorm)}
        for p in self.parameters():
            if p.dim() >= 2: torch.nn.init.normal_(p, 0.0, 0.02)
            elif id(p) not in norm_scales: torch.nn.init.zeros_(p)
    def forward(self, ids):
        t = ids.shape[1]
        x = self.tok(ids) + self.pos(torch.arange(t))
        mask = torch.triu(torch.full((t, t), float("-inf")), 1)
        for b in self.blocks: x = b(x, src_mask=mask)
        return self.head(self.norm(x))

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
    loss = torch.nn.functional.cross_entropy(model(w[:, :-1]).reshape(-1, 256), w[:, 1:].reshape(-1))
    opt.zero_grad(); loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
    opt.step()
    if step % 100 == 0: print(f"step {step} loss {loss.item():.4f}", flush=True)
seconds = time.time() - start
# Validation as TokenStream::sequential_windows: B rows of n // B bytes, windows of T + 1 columns
# overlapping by one, every byte but each row's first predicted once.
model.eval()
rows = val[: (len(val) // B) * B].reshape(B, -1)
total, count = 0.0, 0
with torch.no_grad():
    for c in range(0, rows.shape[1] - 1, T):
        w = rows[:, c : c + T + 1]
        total += torch.nn.functional.cross_entropy(model(w[:, :-1]).reshape(-1, 256), w[:, 1:].reshape(-1),
                                                   reduction="sum").item()
        count += w[:, 1:].numel()
print(f"final: val_loss={total / count:.4f} steps={a.steps} seconds={seconds:.1f} tokens_per_s={a.steps * B * T / seconds:.0f}")
