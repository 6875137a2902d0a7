"""SageMaker's responses in the local stack: moto's, plus UpdateEndpoint (parse, call the backend, serialise) and
CreateModel's EnableNetworkIsolation (moto keeps False whatever is asked)."""

from __future__ import annotations

from moto.core.responses import ActionResult
from moto.sagemaker.responses import SageMakerResponse

__all__ = ["LocalSageMakerResponse"]


class LocalSageMakerResponse(SageMakerResponse):
    def create_model(self) -> ActionResult:
        result = super().create_model()
        # moto drops EnableNetworkIsolation (always False): keep what the caller asked, as SageMaker does
        model = self.sagemaker_backend.describe_model(self._get_param("ModelName"))  # type: ignore[attr-defined]
        model.enable_network_isolation = bool(self._get_param("EnableNetworkIsolation", False))
        return result

    def update_endpoint(self) -> ActionResult:
        arn = self.sagemaker_backend.update_endpoint(  # type: ignore[attr-defined]
            endpoint_name=self._get_param("EndpointName"),
            endpoint_config_name=self._get_param("EndpointConfigName"),
            deployment_config=self._get_param("DeploymentConfig"),
        )
        return ActionResult({"EndpointArn": arn})
