import numpy as np
import pytorch_lightning as pl
import torch
import wandb
from marinedebrisdetector_mod.metrics import calculate_metrics, get_loss
from marinedebrisdetector_mod.model.model import get_model
from sklearn.metrics import precision_recall_curve
from torch.optim import Adam


class SegmentationModel(pl.LightningModule):
    def __init__(self, args):
        super().__init__()
        self.learning_rate = args.learning_rate
        self.weight_decay = args.weight_decay
        self.hr_only = args.hr_only  # the four 10 m bands only
        self.inchannels = 4 if self.hr_only else 12
        self.model = get_model(args.model, inchannels=self.inchannels, pretrained=False)
        self.criterion = get_loss()
        # the decision threshold, tuned on the validation set
        self.register_buffer("threshold", torch.tensor(0.5))
        self.save_hyperparameters()

    def forward(self, x):
        if x.shape[1] > self.inchannels:
            x = x[:, np.array([1, 2, 3, 7])]
        return self.model(x)

    def training_step(self, batch, batch_idx):
        images, target, _ = batch
        return self.criterion(self(images).squeeze(1), target)

    def validation_step(self, batch, batch_idx):
        images, masks, _ = batch
        logits = self(images).squeeze(1)
        h, w = logits.shape[1] // 2, logits.shape[2] // 2
        return {"y_scores": torch.sigmoid(logits[:, h, w]).cpu(), "y_true": masks.cpu()}

    def tune_threshold(self, y_true, y_scores):
        precision, recall, thresholds = precision_recall_curve(y_true, y_scores)
        threshold = thresholds[np.abs(precision - recall).argmin()]
        self.threshold = torch.tensor(threshold)
        metrics = calculate_metrics(y_true, y_scores, threshold)
        wandb.log({f"validation/{k}": v for k, v in metrics.items()})
        return metrics

    def configure_optimizers(self):
        return Adam(self.model.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay)
