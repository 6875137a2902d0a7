from dataclasses import KW_ONLY
from typing import Optional

import torch
import torch.nn as nn
from torch.nn import functional as F
from utils.common import custom_dataclass
from utils.transformer_modules import BaseModel, LayerNorm, TransformerBlock


@custom_dataclass
class ModelConfig:
    context_size: int
    n_embed: int
    n_layer: int
    n_head: int
    _: KW_ONLY
    dropout_rate: float = 0.0
    alphabet_size: Optional[int] = None
    use_bias: bool = False


class TransformerModel(BaseModel):
    model_config_cls = ModelConfig

    def _init_model(self, config: ModelConfig):
        assert config.alphabet_size is not None
        self.config = config
        self.token_embedding = nn.Embedding(config.alphabet_size, config.n_embed)
        self.positional_embedding = nn.Embedding(config.context_size, config.n_embed)
        self.dropout = nn.Dropout(config.dropout_rate)
        self.transformer_blocks = nn.Sequential(
            *[TransformerBlock(config.n_embed, config.n_head, config.use_bias, config.dropout_rate)
              for _ in range(config.n_layer)]
        )
        self.ln = LayerNorm(config.n_embed, config.use_bias)
        self.output_layer = nn.Linear(config.n_embed, config.alphabet_size, bias=config.use_bias)
        self.apply(self._init_weights)

    def forward(self, x, targets=None):
        positions = torch.arange(x.shape[1], device=x.device)
        h = self.dropout(self.token_embedding(x) + self.positional_embedding(positions))
        logits = self.output_layer(self.ln(self.transformer_blocks(h)))
        if targets is None:
            return logits, None
        return logits, F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1))
