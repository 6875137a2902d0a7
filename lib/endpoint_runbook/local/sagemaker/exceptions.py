"""The errors SageMaker returns for what the local stack adds to moto (moto's ``ValidationError`` shape)."""

from __future__ import annotations

from moto.sagemaker.exceptions import ValidationError

__all__ = ["AlreadyExists", "EndpointInProgress", "NotFound"]


class AlreadyExists(ValidationError):
    """A create whose name is taken (moto would overwrite the record)."""

    def __init__(self, label: str, arn: str):
        super().__init__(f'Cannot create already existing {label} "{arn}".')


class NotFound(ValidationError):
    def __init__(self, label: str, name: str):
        super().__init__(f'Could not find {label} "{name}".')


class EndpointInProgress(ValidationError):
    """UpdateEndpoint on an endpoint that is Creating, Updating, Deleting or SystemUpdating."""

    def __init__(self, arn: str):
        super().__init__(f'Cannot update in-progress endpoint "{arn}".')
