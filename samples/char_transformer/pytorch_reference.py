# The PyTorch run that samples/char_transformer is compared with (README): the same model,
# initialisation, data, batch, optimizer, schedule, clipping and steps (samples/common/
# char_reference.py), in PyTorch 1.13 (Debian 12's python3-torch). From the repository's root:
#   /usr/bin/python3 samples/char_transformer/pytorch_reference.py [--steps 2000] [--seed 1]
# The last line reads like the sample's: final: val_loss=... steps=... seconds=... tokens_per_s=...
import os, sys
import torch
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "common"))
import char_reference as ref

W, L, H = 128, 4, 4

class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = torch.nn.Embedding(256, W)
        self.pos = torch.nn.Embedding(ref.T, W)
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

a, train, val = ref.setup()
model = Model()
ref.train_and_validate(a, train, val, model, 1e-3, lambda ids, state: (model(ids), None))
