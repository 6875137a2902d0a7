import base64
import json
import os

import cv2
import numpy as np
import torch
from swinir.load_model import define_model

# upscaler configuration
scale_factor = 4
window_size = 8

device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
swinir_model_name = 'Swin2SR_RealworldSR_X4_64_BSRGAN_PSNR.pth'


def model_fn(model_dir):
    swinir_model_path = os.path.join(model_dir, swinir_model_name)
    print(f"========model path: {swinir_model_path} ======")
    swinir_model = define_model(swinir_model_path, "real_sr", scale_factor)
    swinir_model = swinir_model.to(device)
    swinir_model.eval()
    return swinir_model


def input_fn(request_body, request_content_type):
    print("Received input request.")
    if "application/json" in request_content_type:
        data = json.loads(request_body)
        return data['image']
    raise ValueError("Unsupported content type: {}".format(request_content_type))


def predict_fn(input_data, model):
    print("Received predict request.")
    nparr = np.frombuffer(base64.b64decode(input_data.encode("ascii")), np.uint8)
    img = cv2.imdecode(nparr, cv2.IMREAD_COLOR).astype(np.float32) / 255.
    img = np.transpose(img[:, :, [2, 1, 0]], (2, 0, 1))  # HWC-BGR to CHW-RGB
    img = torch.from_numpy(img).float().unsqueeze(0).to(device)
    data = ""
    try:
        with torch.no_grad():
            # pad the input to a multiple of window_size by mirroring
            _, _, h_old, w_old = img.size()
            h_pad = (h_old // window_size + 1) * window_size - h_old
            w_pad = (w_old // window_size + 1) * window_size - w_old
            img = torch.cat([img, torch.flip(img, [2])], 2)[:, :, :h_old + h_pad, :]
            img = torch.cat([img, torch.flip(img, [3])], 3)[:, :, :, :w_old + w_pad]
            output = model(img)
            output = output[..., :h_old * scale_factor, :w_old * scale_factor]
            output = output.data.squeeze().float().cpu().clamp_(0, 1).numpy()
            output = np.transpose(output[[2, 1, 0], :, :], (1, 2, 0))  # CHW-RGB to HWC-BGR
            output = (output * 255.0).round().astype(np.uint8)
            _, im_arr = cv2.imencode('.jpg', output)
            data = base64.b64encode(im_arr.tobytes()).decode('utf-8')
    except RuntimeError as error:
        print('Error', error)
        print('Out of memory? Try a smaller image.')
    except Exception as error:
        print('Error', error)
    return data


def output_fn(prediction, content_type):
    return json.dumps({"generated_images": [prediction], "prompt": ""}), content_type
