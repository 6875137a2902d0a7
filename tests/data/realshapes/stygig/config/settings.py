"""Deployment settings from the environment, with defaults."""

import logging
import os

logger = logging.getLogger(__name__)


class StyGigSettings:
    def __init__(self):
        self.region = os.environ.get("AWS_REGION", "ap-south-1")
        self.bucket = os.environ.get("S3_BUCKET", "stygig-shapes-bucket")
        self.inference_instance_type = os.environ.get("INFERENCE_INSTANCE_TYPE", "ml.m5.large")
        self.clip_model = os.environ.get("CLIP_MODEL", "ViT-B-32")
        self.clip_pretrained = os.environ.get("CLIP_PRETRAINED", "openai")

    def as_dict(self):
        return dict(vars(self))


settings = StyGigSettings()
