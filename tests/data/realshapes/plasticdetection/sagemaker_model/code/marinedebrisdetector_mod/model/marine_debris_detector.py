import torch
from torch import nn


class MarineDebrisDetector(nn.Module):
    """The upstream detector, fetched from its torch.hub repository (used offline, not by the endpoint)."""

    def __init__(self, model: str = "unetpp", seed: int = 1, ensemble: bool = False):
        super().__init__()
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        seeds = [1, 2, 3] if ensemble else [seed]
        self.models = nn.ModuleList(
            torch.hub.load("debris-lab/debrisdetector-hub", model, int(s)).to(self.device).eval() for s in seeds
        )

    def forward(self, X):
        scores = [torch.sigmoid(m(X.to(self.device))) for m in self.models]
        y_score = torch.stack(scores).mean(0)
        return y_score, y_score > self.models[0].threshold
