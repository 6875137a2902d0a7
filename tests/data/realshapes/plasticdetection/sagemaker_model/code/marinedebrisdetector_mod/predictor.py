import logging

import numpy as np
import torch
from marinedebrisdetector_mod.model.marine_debris_detector import MarineDebrisDetector

logging.basicConfig(level=logging.INFO)

LOGGER = logging.getLogger(__name__)


def predict(
    model: MarineDebrisDetector,
    image: np.ndarray,
    device: str = "cpu",
    activation: str = "sigmoid",
    image_size: tuple = (480, 480),
    offset: int = 64,
) -> np.ndarray:
    """Pads a (bands, h, w) scene to the tile the model was trained on, scores it and unpads the result."""
    bands, h, w = image.shape
    image = image[:12]
    H, W = image_size[0] + 2 * offset, image_size[1] + 2 * offset
    dh, dw = (H - h) / 2, (W - w) / 2
    top, bottom, left, right = int(np.ceil(dh)), int(np.floor(dh)), int(np.ceil(dw)), int(np.floor(dw))
    image = np.pad(image, [(0, 0), (top, bottom), (left, right)])
    x = torch.from_numpy(image.astype(np.float32)).to(device).unsqueeze(0) * 1e-4
    with torch.no_grad():
        out = model(x)
        if isinstance(out, tuple):
            y_score = out[0].squeeze().cpu().numpy()
        else:
            logits = out.squeeze(0)
            if activation == "sigmoid":
                logits = torch.sigmoid(logits)
            y_score = logits.cpu().numpy()[0]
    LOGGER.info("scored a %dx%d scene", h, w)
    return y_score[top : y_score.shape[0] - bottom, left : y_score.shape[1] - right]
