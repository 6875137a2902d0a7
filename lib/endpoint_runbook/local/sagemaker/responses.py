"""SageMaker's responses in the local stack: moto's, plus UpdateEndpoint (parse, call the backend, serialise)."""

from __future__ import annotations

from moto.core.responses import ActionResult
from moto.sagemaker.responses import SageMakerResponse

__all__ = ["LocalSageMakerResponse"]


class LocalSageMakerResponse(SageMakerResponse):
    def update_endpoint(self) -> ActionResult:
        arn = self.sagemaker_backend.update_endpoint(  # type: ignore[attr-defined]
            endpoint_name=self._get_param("EndpointName"),
            endpoint_config_name=self._get_param("EndpointConfigName"),
            deployment_config=self._get_param("DeploymentConfig"),
        )
        return ActionResult({"EndpointArn": arn})
