"""SageMaker's responses in the local stack: moto's, plus UpdateEndpoint (parse, call the backend, serialise),
CreateModel's EnableNetworkIsolation (moto keeps False whatever is asked), and under IAM enforcement the
permissions a create implies (``iam:PassRole``, ``sagemaker:AddTags``), which moto does not check: judged
before anything is made."""

from __future__ import annotations

from moto.core.responses import ActionResult
from moto.sagemaker.responses import SageMakerResponse

from ..access import authorize_implied

__all__ = ["LocalSageMakerResponse"]


class LocalSageMakerResponse(SageMakerResponse):
    def _implied(self, kind: str, name_param: str, *, role: bool = False) -> None:
        """What the create implies (it makes nothing when one is refused)."""
        name = str(self._get_param(name_param)).lower()
        arn = f"arn:aws:sagemaker:{self.region}:{self.current_account}:{kind}/{name}"
        checks: list[tuple[str, str, dict[str, str] | None]] = []
        if role and self._get_param("ExecutionRoleArn"):
            checks.append(("iam:PassRole", str(self._get_param("ExecutionRoleArn")),
                           {"iam:PassedToService": "sagemaker.amazonaws.com"}))
        if self._get_param("Tags"):
            checks.append(("sagemaker:AddTags", arn, None))
        authorize_implied(self, checks)

    def create_model(self) -> ActionResult:
        self._implied("model", "ModelName", role=True)
        result = super().create_model()
        # moto drops EnableNetworkIsolation (always False): keep what the caller asked, as SageMaker does
        model = self.sagemaker_backend.describe_model(self._get_param("ModelName"))  # type: ignore[attr-defined]
        model.enable_network_isolation = bool(self._get_param("EnableNetworkIsolation", False))
        return result

    def create_endpoint_config(self) -> ActionResult:
        self._implied("endpoint-config", "EndpointConfigName")
        return super().create_endpoint_config()

    def create_endpoint(self) -> ActionResult:
        self._implied("endpoint", "EndpointName")
        return super().create_endpoint()

    def update_endpoint(self) -> ActionResult:
        arn = self.sagemaker_backend.update_endpoint(  # type: ignore[attr-defined]
            endpoint_name=self._get_param("EndpointName"),
            endpoint_config_name=self._get_param("EndpointConfigName"),
            deployment_config=self._get_param("DeploymentConfig"),
        )
        return ActionResult({"EndpointArn": arn})
