# The SageMaker handlers every model folder's inference.py binds to its own model class.
import json
import os
from dataclasses import dataclass, field

import tiktoken
import torch

from utils.common import create_autocast_context, get_default_device, set_random_seed


@dataclass
class SampleConfig:
    max_tokens: int
    n_samples: int = 1
    seed: int = 1337
    device: str = field(default_factory=get_default_device)
    dtype: str = "float32"
    start_tokens: str = "\n"


def model_fn(model_dir, model_cls, file_name=None):
    """Loads the checkpoint (model.pth, else ckpt.pt, or file_name) from model_dir into model_cls."""
    device = get_default_device()
    if os.path.isfile(os.path.join(model_dir, file_name or "model.pth")):
        model_dict = torch.load(os.path.join(model_dir, file_name or "model.pth"), map_location=device)
    else:
        model_dict = torch.load(os.path.join(model_dir, file_name or "ckpt.pt"), map_location=device)
    model = model_cls.init_from_checkpoint(model_dict)
    model.eval()
    model.to(device)
    if torch.cuda.is_available():
        model = torch.compile(model)
    return model


def input_fn(request_body, request_content_type):
    if request_content_type != "application/json":
        raise ValueError(f"Unsupported content type: {request_content_type}")
    # (the repository's own shape: keys are upper-cased, while SampleConfig's fields are lower case)
    return SampleConfig(**{k.upper(): v for k, v in json.loads(request_body).items()})


def predict_fn(input_data: SampleConfig, model):
    set_random_seed(input_data.seed)
    device_type = "cuda" if "cuda" in input_data.device else "cpu"
    ptdtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[input_data.dtype]
    ctx = create_autocast_context(device_type, ptdtype)
    enc = tiktoken.get_encoding("gpt2")
    start = enc.encode(input_data.start_tokens, allowed_special={"<|endoftext|>"})
    x = torch.tensor(start, dtype=torch.long, device=input_data.device)[None, ...]
    predictions = []
    with torch.no_grad(), ctx():
        for _ in range(input_data.n_samples):
            predictions.append(enc.decode(model.generate(x, input_data.max_tokens)[0].tolist()))
    return predictions


def output_fn(prediction_output, accept="application/json"):
    if accept != "application/json":
        raise ValueError(f"Unsupported accept type: {accept}")
    return json.dumps({f"pred_{i}": pred for i, pred in enumerate(prediction_output)})
