"""Published checkpoints of the upstream detector (downloaded by hand, not at serving time)."""

BASE = "https://debris-models.s3.eu-central-1.amazonaws.com"

CHECKPOINTS = {
    "unet++1": f"{BASE}/checkpoints/unetpp1/epoch=12-val_loss=0.41-auroc=0.981.ckpt",
    "unet++2": f"{BASE}/checkpoints/unetpp2/epoch=30-val_loss=0.44-auroc=0.979.ckpt",
    "unet1": f"{BASE}/checkpoints/unet1/epoch=21-val_loss=0.47-auroc=0.975.ckpt",
}
