import torch
import torch.nn as nn
import torch.nn.functional as F


def block(cin, cout):
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """A two-level U-Net."""

    def __init__(self, n_channels, n_classes, width=16):
        super().__init__()
        self.inc = block(n_channels, width)
        self.down = block(width, 2 * width)
        self.up = nn.ConvTranspose2d(2 * width, width, 2, stride=2)
        self.dec = block(2 * width, width)
        self.outc = nn.Conv2d(width, n_classes, 1)

    def forward(self, x):
        x1 = self.inc(x.float())
        x2 = self.down(F.max_pool2d(x1, 2))
        u = self.up(x2)
        u = F.pad(u, [0, x1.shape[3] - u.shape[3], 0, x1.shape[2] - u.shape[2]])
        return self.outc(self.dec(torch.cat([x1, u], dim=1)))
