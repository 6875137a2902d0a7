import segmentation_models_pytorch as smp

from .unet import UNet


def get_model(modelname, inchannels=12, pretrained=True):
    if modelname == "unet":
        return UNet(n_channels=inchannels, n_classes=1)
    if modelname == "unet++":
        return smp.UnetPlusPlus(in_channels=inchannels, classes=1)
    if modelname == "manet":
        return smp.MAnet(in_channels=inchannels, classes=1)
    raise NotImplementedError(modelname)
