from typing import List, Type

import torch
import torch.nn as nn
from torch.nn import functional as F


class LayerNorm(nn.Module):
    def __init__(self, dim, use_bias):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim)) if use_bias else None

    def forward(self, x):
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)


class MultiAttentionHead(nn.Module):
    def __init__(self, n_embed, n_head, use_bias, dropout_rate=0.0):
        super().__init__()
        assert n_embed % n_head == 0
        self.n_head = n_head
        self.qkv = nn.Linear(n_embed, 3 * n_embed, bias=use_bias)
        self.proj = nn.Linear(n_embed, n_embed, bias=use_bias)
        self.dropout = nn.Dropout(dropout_rate)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.dropout(self.proj(y.transpose(1, 2).contiguous().view(B, T, C)))


class FeedForward(nn.Module):
    def __init__(self, n_embed, use_bias, dropout_rate=0.0):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_embed, 4 * n_embed, bias=use_bias), nn.GELU(),
                                 nn.Linear(4 * n_embed, n_embed, bias=use_bias), nn.Dropout(dropout_rate))

    def forward(self, x):
        return self.net(x)


class TransformerBlock(nn.Module):
    def __init__(self, n_embed, n_head, use_bias, dropout_rate=0.0):
        super().__init__()
        self.ln1 = LayerNorm(n_embed, use_bias)
        self.attn = MultiAttentionHead(n_embed, n_head, use_bias, dropout_rate)
        self.ln2 = LayerNorm(n_embed, use_bias)
        self.feed_forward = FeedForward(n_embed, use_bias, dropout_rate)

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.feed_forward(self.ln2(x))


class SubModuleStats(nn.Module):
    """A module that records scalar statistics (as attributes) during its forward pass."""

    extra_stats: List[str] = []


class BaseModel(nn.Module):
    model_config_cls: Type

    def __init__(self, config, gradient_accumulation_steps=None, is_master_process=True):
        super().__init__()
        self._init_model(config)
        self.gradient_accumulation_steps = gradient_accumulation_steps
        self.is_master_process = is_master_process

    def _init_model(self, config):
        raise NotImplementedError

    def _init_weights(self, module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if getattr(module, "bias", None) is not None:
                torch.nn.init.zeros_(module.bias)

    @classmethod
    def init_from_checkpoint(cls, checkpoint_dict, gradient_accumulation_steps=None, is_master_process=True):
        model_config = cls.model_config_cls(**checkpoint_dict["model_config"])
        model = cls(model_config, gradient_accumulation_steps, is_master_process)
        state_dict = checkpoint_dict["model"]
        prefix = "_orig_mod."  # what torch.compile adds to every key
        for key in list(state_dict):
            if key.startswith(prefix):
                state_dict[key[len(prefix):]] = state_dict.pop(key)
        model.load_state_dict(state_dict)
        return model

    @torch.no_grad()
    def generate(self, x, max_tokens):
        for _ in range(max_tokens):
            logits, _ = self(x[:, -self.config.context_size:], None)
            probs = F.softmax(logits[:, -1, :], dim=-1)
            x = torch.cat((x, torch.multinomial(probs, num_samples=1)), dim=1)
        return x
