"""Small models with the structures the tracer must get right (imported by the trace tests)."""

from __future__ import annotations

import torch
from torch import nn


class ResidualBlock(nn.Module):
    def __init__(self, width: int = 8) -> None:
        super().__init__()
        self.fc1 = nn.Linear(width, width)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fc2(self.act(self.fc1(x)))


class SharedLayer(nn.Module):
    """One Linear applied three times (shared weights)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for _ in range(3):
            x = torch.tanh(self.fc(x))
        return x


class TiedEmbedding(nn.Module):
    def __init__(self, vocab: int = 50, width: int = 16) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        self.head = nn.Linear(width, vocab, bias=False)
        self.head.weight = self.embed.weight

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(ids))


class DictOutput(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(4, 2)
        self.b = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> dict:
        return {"left": self.a(x), "pair": (self.b(y), self.a(y))}


class InPlace(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc(x)
        h.add_(1.0)
        h[:, 0] = 0.0
        return self.relu(h)


class Recurrent(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(6, 12, batch_first=True)
        self.head = nn.Linear(12, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, (_h, _c) = self.lstm(x)
        return self.head(out[:, -1])


class NoParams(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(x * 2, dim=-1)


class DynamicLoop(nn.Module):
    """Runs its block as many times as the input's first value says (data-dependent)."""

    def __init__(self) -> None:
        super().__init__()
        self.block = nn.Linear(3, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for _ in range(int(x[0, 0].item())):
            x = self.block(x)
        return x


class BrokenMidway(nn.Module):
    """The second layer expects 16 features but gets 8: fails after the first layer ran."""

    def __init__(self) -> None:
        super().__init__()
        self.first = nn.Linear(4, 8)
        self.second = nn.Linear(16, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.second(torch.relu(self.first(x)))


class BrokenCat(nn.Module):
    """A free op (cat) fails inside a submodule."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = nn.ModuleDict({"proj": nn.Linear(4, 4)})
        self.merge = Merge()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.merge(self.inner["proj"](x), torch.zeros(3, 4))


class Merge(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.norm = nn.Identity()

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.norm(torch.cat([a, b], dim=0).view(-1, 7))


class NeedsTwoInputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.one = nn.Linear(3, 3)
        self.two = nn.Linear(3, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.two(self.one(x) * mask)
