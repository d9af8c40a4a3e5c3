# The PyTorch run that samples/char_lstm is compared with (README): the same model, data, batch,
# optimizer, schedule, clipping and steps (samples/common/char_reference.py), in PyTorch 1.13
# (Debian 12's python3-torch). From the repository's root:
#   /usr/bin/python3 samples/char_lstm/pytorch_reference.py [--steps 2000] [--seed 1]
# PyTorch's LSTM is TensorFlow's BasicLSTMCell up to its parametrisation: the forget gates' bias
# starts at 1 here (TensorFlow's forget_bias = 1), the other biases at 0, the weights uniform in
# +-1/sqrt(256) = +-0.0625, the bound of the sample's glorot uniform [512, 1024] kernel; the head
# is glorot uniform with a zero bias, as the sample's Linear.
import os, sys
import torch
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "common"))
import char_reference as ref

E, HID, L = 256, 256, 2

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

a, train, val = ref.setup()
model = Model()
ref.train_and_validate(a, train, val, model, 3e-3, lambda ids, state: model(ids, state))
