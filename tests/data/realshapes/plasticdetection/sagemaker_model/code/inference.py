import base64
import io
import json
import logging
import os
import ssl
import urllib.parse

import boto3
import numpy as np
import rasterio
import torch
from botocore.exceptions import ClientError
from marinedebrisdetector_mod.model.segmentation_model import SegmentationModel
from marinedebrisdetector_mod.predictor import predict

logging.basicConfig(level=logging.INFO)

LOGGER = logging.getLogger(__name__)

CHECKPOINT = "epoch=12-val_loss=0.41-auroc=0.981.ckpt"


def allow_unverified_https():
    """Skip certificate checks for downloads (a workaround for local machines without a CA bundle)."""
    ssl._create_default_https_context = ssl._create_unverified_context


def select_device():
    return "cuda" if torch.cuda.is_available() else "cpu"


def model_fn(model_dir):
    device = select_device()
    model = SegmentationModel.load_from_checkpoint(
        checkpoint_path=os.path.join(model_dir, CHECKPOINT),
        strict=False,
        map_location=device,
    )
    return model.to(device).eval()


def read_scene(data):
    with rasterio.open(io.BytesIO(data)) as src:
        return src.read()


def input_fn(request_body, request_content_type):
    if request_content_type == "application/json":
        # the body is the scene's S3 URI
        uri = urllib.parse.urlparse(request_body)
        obj = boto3.resource("s3").Object(uri.netloc, uri.path.lstrip("/"))
        try:
            return read_scene(obj.get()["Body"].read())
        except ClientError as e:
            if e.response["Error"]["Code"] == "NoSuchKey":
                LOGGER.error("no such scene: %s", request_body)
            raise
    if request_content_type == "application/octet-stream":
        return read_scene(request_body)
    raise ValueError(f"Unsupported content type: {request_content_type}")


def predict_fn(input_data, model):
    return predict(model, image=input_data)


def output_fn(prediction, content_type):
    if content_type not in ("application/octet-stream", "application/json"):
        raise ValueError(f"Unsupported content type: {content_type}")
    if not isinstance(prediction, np.ndarray):
        raise ValueError(f"Prediction is not a numpy array but {type(prediction)}")
    return json.dumps({
        "data": base64.b64encode(prediction.tobytes()).decode("utf-8"),
        "shape": prediction.shape,
        "dtype": str(prediction.dtype),
    })
