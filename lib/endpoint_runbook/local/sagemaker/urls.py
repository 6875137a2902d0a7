"""moto's URL map for SageMaker, served by the local stack's response class (moto finds it next to
``models.py``: ``BaseBackend.url_paths``)."""

from __future__ import annotations

from moto.sagemaker.urls import url_bases

from .responses import LocalSageMakerResponse

__all__ = ["url_bases", "url_paths"]

url_paths = {
    "{0}/$": LocalSageMakerResponse.dispatch,
}
