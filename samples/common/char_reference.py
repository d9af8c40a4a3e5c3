# What the PyTorch reference runs of samples/char_transformer and samples/char_lstm share (their
# pytorch_reference.py scripts): the fortunes corpus read and split as tapeflow's
# fortunes::read_data_sets, random windows, AdamW on two parameter groups (matrices decayed),
# warm-up then cosine decay, clipping at 1, and the validation loss over sequential windows as
# TokenStream::sequential_windows, printing the samples' last line. PyTorch 1.13 (Debian 12's
# python3-torch).
import argparse, math, os, time
import torch

B, T, WARMUP, WD, CLIP = 32, 128, 100, 0.01, 1.0

def setup():
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--data_dir", default="/usr/share/games/fortunes")
    a = p.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    # The files without a dot, sorted by name, concatenated; the last floor(n / 10) bytes held out.
    files = sorted(f for f in os.listdir(a.data_dir) if "." not in f and os.path.isfile(os.path.join(a.data_dir, f)))
    data = b"".join(open(os.path.join(a.data_dir, f), "rb").read() for f in files)
    tokens = torch.tensor(list(data), dtype=torch.long)
    n_val = len(tokens) // 10
    return a, tokens[: len(tokens) - n_val], tokens[len(tokens) - n_val :]

def train_and_validate(a, train, val, model, lr, logits_of):
    """logits_of(ids, state) -> (logits [B, T, 256], state); state None for zeros."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay}, {"params": no_decay, "weight_decay": 0.0}], lr=lr, weight_decay=WD)
    decay_steps = max(1, a.steps - WARMUP)
    start = time.time()
    for step in range(a.steps):
        rate = lr * step / WARMUP if step < WARMUP else lr * 0.5 * (1 + math.cos(math.pi * min(step - WARMUP, decay_steps) / decay_steps))
        for g in opt.param_groups: g["lr"] = rate
        starts = torch.randint(0, len(train) - T, (B,))
        w = torch.stack([train[s : s + T + 1] for s in starts])
        logits, _ = logits_of(w[:, :-1], None)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 256), w[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        opt.step()
        if step % 100 == 0: print(f"step {step} loss {loss.item():.4f}", flush=True)
    seconds = time.time() - start
    # B rows of n // B bytes, windows of T + 1 columns overlapping by one: every byte but each
    # row's first predicted once; the state (an LSTM's) carried from window to window.
    model.eval()
    rows = val[: (len(val) // B) * B].reshape(B, -1)
    total, count, state = 0.0, 0, None
    with torch.no_grad():
        for c in range(0, rows.shape[1] - 1, T):
            w = rows[:, c : c + T + 1]
            logits, state = logits_of(w[:, :-1], state)
            total += torch.nn.functional.cross_entropy(logits.reshape(-1, 256), w[:, 1:].reshape(-1), reduction="sum").item()
            count += w[:, 1:].numel()
    print(f"final: val_loss={total / count:.4f} steps={a.steps} seconds={seconds:.1f} tokens_per_s={a.steps * B * T / seconds:.0f}")
