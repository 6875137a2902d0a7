from sklearn.metrics import accuracy_score, cohen_kappa_score, precision_recall_fscore_support, roc_auc_score
from torch import nn


def get_loss(pos_weight=None):
    bce = nn.BCEWithLogitsLoss(pos_weight=pos_weight, reduction="none")

    def criterion(y_pred, target, mask=None):
        loss = bce(y_pred, target)
        return (loss * mask.double()).mean() if mask is not None else loss.mean()

    return criterion


def calculate_metrics(targets, scores, threshold):
    predictions = scores > threshold
    p, r, f, _ = precision_recall_fscore_support(targets, predictions, zero_division=0, average="binary")
    return {
        "auroc": roc_auc_score(targets, scores),
        "precision": p,
        "recall": r,
        "fscore": f,
        "kappa": cohen_kappa_score(targets, predictions),
        "accuracy": accuracy_score(targets, predictions),
        "threshold": threshold,
    }
