"""Serving handlers: the shape of the real repository the issue was found on."""

import json
import logging
import os
import sys
import urllib.request

sys.path.append("/opt/ml/model/src")
logger = logging.getLogger(__name__)
WEIGHTS_URL = "https://hub.zoo.invalid/shop/clip.bin"


class Recommender:
    def __init__(self, model_dir):
        self.model_dir = model_dir
        self.settings = {"weights_url": WEIGHTS_URL}
        path = os.path.join(model_dir, "config", "settings.json")
        if os.path.exists(path):
            with open(path) as f:
                self.settings.update(json.load(f))
        self._init_components()

    def _init_components(self):
        try:
            from shopkit.core.colors import ColorProcessor
        except Exception as e:
            logger.error("could not import shopkit: %s", e)
            raise
        self.colors = ColorProcessor(self.settings)
        self.weights = self._download_weights(self.settings["weights_url"])

    def _download_weights(self, url):
        with urllib.request.urlopen(url, timeout=5) as r:  # pretrained weights from the hub, at start-up
            return r.read()

    def recommend(self, item):
        return {"score": self.colors.score(item.get("color"), "red")}


def model_fn(model_dir):
    return Recommender(model_dir)


def input_fn(body, content_type):
    return json.loads(body)


def predict_fn(data, model):
    return model.recommend(data)


def output_fn(prediction, accept):
    return json.dumps(prediction)
