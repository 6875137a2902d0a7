"""The serving image's URI (the SageMaker Python SDK's lookup) and whether botocore knows ``S3FailurePath``."""

from __future__ import annotations

from typing import Any

from ..errors import InputError

__all__ = ["lookup_image_uri", "botocore_supports_failure_path"]

# ---------------------------------------------------------------------------------------------- image, botocore


def lookup_image_uri(*, region: str, framework: str = "pytorch", version: str | None, py_version: str | None,
                     instance_type: str | None) -> str:
    """The serving image from the SageMaker SDK's offline table (SDK 3.x ``sagemaker.core.image_uris``,
    else 2.x ``sagemaker.image_uris``). InputError ``sagemaker-sdk-missing`` / ``image-lookup-failed``."""
    try:
        from sagemaker.core import image_uris  # SDK 3.x
    except ImportError:
        try:
            from sagemaker import image_uris  # SDK 2.x
        except ImportError as e:
            raise InputError("the serving image is unknown and the SageMaker SDK is not installed to look it up.",
                             code="sagemaker-sdk-missing",
                             hint="Pass image_uri (e.g. the crashing endpoint's image), or `pip install sagemaker` "
                             "(either major) and set framework_version and py_version.") from e
    try:
        return image_uris.retrieve(framework=framework, region=region, version=version, py_version=py_version,
                                   instance_type=instance_type, image_scope="inference")
    except (ValueError, KeyError, TypeError) as e:
        raise InputError(f"the SageMaker SDK has no {framework} {version} {py_version} inference image for "
                         f"{instance_type} in {region}: {e}", code="image-lookup-failed",
                         hint="Check framework_version / py_version, or pass image_uri.") from e


def botocore_supports_failure_path(sagemaker_client: Any, runtime_client: Any | None = None) -> bool:
    """True when the loaded service models know ``S3FailurePath`` (and the runtime's ``FailureLocation``)."""
    try:
        shape = sagemaker_client.meta.service_model.shape_for("AsyncInferenceOutputConfig")
        ok = "S3FailurePath" in shape.members
        if runtime_client is not None:
            out = runtime_client.meta.service_model.operation_model("InvokeEndpointAsync").output_shape
            ok = ok and "FailureLocation" in out.members
        return ok
    except (KeyError, AttributeError, LookupError):  # the shape is missing altogether: far too old
        return False
