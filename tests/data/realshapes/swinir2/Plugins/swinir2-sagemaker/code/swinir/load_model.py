import torch

from .network_swin2sr import Swin2SR as net


def define_model(model_path, task, scale):
    # classical image super-resolution
    if task == 'classical_sr':
        model = net(upscale=scale, in_chans=3, img_size=64, window_size=8, img_range=1., depths=[2],
                    embed_dim=8, num_heads=[2], mlp_ratio=2, upsampler='pixelshuffle', resi_connection='1conv')
        param_key_g = 'params'

    # real-world image super-resolution
    elif task == 'real_sr':
        model = net(upscale=scale, in_chans=3, img_size=64, window_size=8, img_range=1., depths=[2],
                    embed_dim=8, num_heads=[2], mlp_ratio=2, upsampler='nearest+conv', resi_connection='1conv')
        param_key_g = 'params_ema'

    # colour image denoising
    elif task == 'color_dn':
        model = net(upscale=1, in_chans=3, img_size=64, window_size=8, img_range=1., depths=[2],
                    embed_dim=8, num_heads=[2], mlp_ratio=2, upsampler='', resi_connection='1conv')
        param_key_g = 'params'

    pretrained_model = torch.load(model_path)
    model.load_state_dict(pretrained_model[param_key_g] if param_key_g in pretrained_model.keys()
                          else pretrained_model, strict=True)
    return model
