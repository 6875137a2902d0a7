from utils.sample import sample

from future_attention.inference import model_fn

if __name__ == "__main__":
    sample(model_fn)
