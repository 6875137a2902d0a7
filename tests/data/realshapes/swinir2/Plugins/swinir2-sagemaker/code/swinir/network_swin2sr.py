# A small Swin2SR-shaped super-resolution network (convolutional residual groups instead of Swin-V2 blocks).
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.models.layers import DropPath, to_2tuple, trunc_normal_


class ResidualBlock(nn.Module):
    def __init__(self, dim, drop_path=0.0):
        super().__init__()
        self.conv1 = nn.Conv2d(dim, dim, 3, 1, 1)
        self.act = nn.LeakyReLU(negative_slope=0.2, inplace=True)
        self.conv2 = nn.Conv2d(dim, dim, 3, 1, 1)
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()

    def forward(self, x):
        return x + self.drop_path(self.conv2(self.act(self.conv1(x))))


class RSTB(nn.Module):
    """A residual group: blocks, then a convolution, around a skip connection."""

    def __init__(self, dim, depth, drop_path):
        super().__init__()
        self.blocks = nn.ModuleList([ResidualBlock(dim, drop_path[i]) for i in range(depth)])
        self.conv = nn.Conv2d(dim, dim, 3, 1, 1)

    def forward(self, x):
        y = x
        for block in self.blocks:
            y = block(y)
        return self.conv(y) + x


class Upsample(nn.Sequential):
    """Scale 2^n: n times a convolution to 4x the features and a PixelShuffle(2)."""

    def __init__(self, scale, num_feat):
        layers = []
        for _ in range(int(math.log(scale, 2))):
            layers.append(nn.Conv2d(num_feat, 4 * num_feat, 3, 1, 1))
            layers.append(nn.PixelShuffle(2))
        super().__init__(*layers)


class Swin2SR(nn.Module):
    def __init__(self, img_size=64, patch_size=1, in_chans=3, embed_dim=96, depths=(6, 6, 6, 6),
                 num_heads=(6, 6, 6, 6), window_size=7, mlp_ratio=4., drop_path_rate=0.1, upscale=2,
                 img_range=1., upsampler='', resi_connection='1conv', **kwargs):
        super().__init__()
        num_feat = 16
        self.img_size = to_2tuple(img_size)
        self.window_size = window_size
        self.upscale = upscale
        self.upsampler = upsampler
        self.img_range = img_range
        self.mean = torch.zeros(1, in_chans, 1, 1)
        self.conv_first = nn.Conv2d(in_chans, embed_dim, 3, 1, 1)
        dpr = [x.item() for x in torch.linspace(0, drop_path_rate, sum(depths))]
        self.layers = nn.ModuleList(
            RSTB(embed_dim, depth, dpr[sum(depths[:i]):sum(depths[:i + 1])]) for i, depth in enumerate(depths))
        self.conv_after_body = nn.Conv2d(embed_dim, embed_dim, 3, 1, 1)
        if self.upsampler == 'pixelshuffle':
            self.conv_before_upsample = nn.Sequential(nn.Conv2d(embed_dim, num_feat, 3, 1, 1),
                                                      nn.LeakyReLU(inplace=True))
            self.upsample = Upsample(upscale, num_feat)
            self.conv_last = nn.Conv2d(num_feat, in_chans, 3, 1, 1)
        elif self.upsampler == 'nearest+conv':
            assert upscale == 4, 'only x4 is supported by nearest+conv'
            self.conv_before_upsample = nn.Sequential(nn.Conv2d(embed_dim, num_feat, 3, 1, 1),
                                                      nn.LeakyReLU(inplace=True))
            self.conv_up1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
            self.conv_up2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
            self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
            self.conv_last = nn.Conv2d(num_feat, in_chans, 3, 1, 1)
            self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)
        else:
            self.conv_last = nn.Conv2d(embed_dim, in_chans, 3, 1, 1)
        self.apply(self._init_weights)

    def _init_weights(self, m):
        if isinstance(m, nn.Conv2d):
            trunc_normal_(m.weight, std=.02)
            nn.init.constant_(m.bias, 0)

    def check_image_size(self, x):
        _, _, h, w = x.size()
        mod_pad_h = (self.window_size - h % self.window_size) % self.window_size
        mod_pad_w = (self.window_size - w % self.window_size) % self.window_size
        return F.pad(x, (0, mod_pad_w, 0, mod_pad_h), 'reflect')

    def forward_features(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def forward(self, x):
        H, W = x.shape[2:]
        x = self.check_image_size(x)
        self.mean = self.mean.type_as(x)
        x = (x - self.mean) * self.img_range
        if self.upsampler == 'pixelshuffle':
            x = self.conv_first(x)
            x = self.conv_after_body(self.forward_features(x)) + x
            x = self.conv_last(self.upsample(self.conv_before_upsample(x)))
        elif self.upsampler == 'nearest+conv':
            x = self.conv_first(x)
            x = self.conv_after_body(self.forward_features(x)) + x
            x = self.conv_before_upsample(x)
            x = self.lrelu(self.conv_up1(F.interpolate(x, scale_factor=2, mode='nearest')))
            x = self.lrelu(self.conv_up2(F.interpolate(x, scale_factor=2, mode='nearest')))
            x = self.conv_last(self.lrelu(self.conv_hr(x)))
        else:
            first = self.conv_first(x)
            x = x + self.conv_last(self.conv_after_body(self.forward_features(first)) + first)
        x = x / self.img_range + self.mean
        return x[:, :, :H * self.upscale, :W * self.upscale]
