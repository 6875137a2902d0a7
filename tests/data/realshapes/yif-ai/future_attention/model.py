from typing import Optional

import torch
import torch.nn as nn
from baseline_transformer.model import ModelConfig as BaseModelConfig
from torch.nn import functional as F
from utils.common import IntMappedEnum, custom_dataclass
from utils.transformer_modules import BaseModel, FeedForward, LayerNorm, MultiAttentionHead, SubModuleStats


class FutureAttnLossType(IntMappedEnum):
    MSE = "MSE"
    COSINE = "COSINE"


@custom_dataclass
class ModelConfig(BaseModelConfig):
    """future_dim: how many future positions each head predicts attention for."""

    future_dim: int = None
    future_attn_loss_type: FutureAttnLossType = FutureAttnLossType.MSE
    future_attn_loss_coeff: Optional[float] = 1.0

    def __post_init__(self):
        if self.future_dim is None:
            self.future_dim = self.context_size - 1
        assert 1 <= self.future_dim <= self.context_size - 1
        assert self.future_attn_loss_coeff > 0


class FutureHead(SubModuleStats):
    """Causal attention plus a linear guess of the (masked) attention to the next future_dim tokens."""

    extra_stats = ["future_attn_loss"]

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.attn = MultiAttentionHead(config.n_embed, config.n_head, config.use_bias, config.dropout_rate)
        self.future = nn.Linear(config.n_embed, config.future_dim, bias=config.use_bias)
        self.loss_type = config.future_attn_loss_type

    def forward(self, x):
        out = self.attn(x)
        guess = self.future(x)
        target = torch.zeros_like(guess)
        if self.loss_type == FutureAttnLossType.MSE:
            self.future_attn_loss = F.mse_loss(guess, target)
        else:
            self.future_attn_loss = 1 - F.cosine_similarity(guess + 1e-6, target + 1, dim=-1).mean()
        return out


class Block(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.ln1 = LayerNorm(config.n_embed, config.use_bias)
        self.head = FutureHead(config)
        self.ln2 = LayerNorm(config.n_embed, config.use_bias)
        self.feed_forward = FeedForward(config.n_embed, config.use_bias, config.dropout_rate)

    def forward(self, x):
        x = x + self.head(self.ln1(x))
        return x + self.feed_forward(self.ln2(x))


class FutureAttentionTransformer(BaseModel):
    model_config_cls = ModelConfig

    def _init_model(self, config: ModelConfig):
        assert config.alphabet_size is not None
        self.config = config
        self.token_embedding = nn.Embedding(config.alphabet_size, config.n_embed)
        self.positional_embedding = nn.Embedding(config.context_size, config.n_embed)
        self.dropout = nn.Dropout(config.dropout_rate)
        self.transformer_blocks = nn.Sequential(*[Block(config) for _ in range(config.n_layer)])
        self.ln = LayerNorm(config.n_embed, config.use_bias)
        self.output_layer = nn.Linear(config.n_embed, config.alphabet_size, bias=config.use_bias)
        self.apply(self._init_weights)

    def forward(self, x, targets=None):
        positions = torch.arange(x.shape[1], device=x.device)
        h = self.dropout(self.token_embedding(x) + self.positional_embedding(positions))
        logits = self.output_layer(self.ln(self.transformer_blocks(h)))
        if targets is None:
            return logits, None
        loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1))
        return logits, loss
