"""SageMaker in the local stack, in moto's shape: ``models`` (backend state and behaviour), ``responses``
(thin), ``exceptions`` (SageMaker's errors), ``urls`` (moto's URL map, pointing at our responses)."""

from .models import LocalEndpoint, LocalSageMakerBackend, install

__all__ = ["LocalEndpoint", "LocalSageMakerBackend", "install"]
