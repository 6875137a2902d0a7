import os

from utils.train import train

try:
    from future_attention.model import FutureAttentionTransformer
except ImportError:
    # a training job gets only this folder, so the model module is importable on its own there
    from model import FutureAttentionTransformer

if __name__ == "__main__":
    train(FutureAttentionTransformer, f"{os.path.dirname(os.path.abspath(__file__))}/", "future_attention_v1")
