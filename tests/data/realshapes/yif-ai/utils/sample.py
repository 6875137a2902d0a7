import argparse
import os

from utils.inference import SampleConfig, predict_fn


def sample(model_fn):
    parser = argparse.ArgumentParser()
    parser.add_argument("--model_path", type=str)
    parser.add_argument("--max_tokens", type=int)
    args = parser.parse_args()
    model = model_fn(os.path.dirname(args.model_path), os.path.basename(args.model_path))
    print(predict_fn(SampleConfig(max_tokens=args.max_tokens), model))
