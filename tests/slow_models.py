"""A TorchScript-able model that stalls from its second call, for the hostile-model tests of the
core and of the window (tests/ is on the path of every test module)."""

from __future__ import annotations

import torch
from torch import nn


class SlowFromSecondCall(nn.Module):
    """Answers its first call (the load check) at once, then takes ``n`` matrix products per call
    (3,000 of them take 0.16 s on a quiet 2-core machine here: the tests take 10 to 20 times more,
    so the call outlasts its limit however quiet the machine is)."""

    def __init__(self, n: int):
        super().__init__()
        self.calls = 0
        self.n = n

    def forward(self, x):
        self.calls += 1
        if self.calls > 1:
            w = torch.ones(200, 200) / 200.0
            m = torch.ones(200, 200)
            for _ in range(self.n):
                m = m @ w
            return x * m[0, 0]
        return x
