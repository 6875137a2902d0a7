"""IAM enforcement in the local stack: moto's own authorization mode, with what the stack serves itself judged too.

moto checks a signed request against the policies of the IAM user (or assumed role) whose access key signed it
once its IAM authorization is on (``/moto-api/reset-auth``, the setting ``INITIAL_NO_AUTH_ACTION_COUNT``). What it
checks (moto 5.2, ``moto/core/responses.py`` ``call_action``, ``moto/core/authorization.py``,
``moto/iam/access_control.py``):

- the **action** of every request: ``<signing name>:<operation>``;
- the **resource** only where a service names one: S3 (``arn:aws:s3:::bucket`` or ``.../key``), SQS (the queue's
  ARN when the request names an existing queue by ``QueueUrl``), IAM (the role a ``RoleName`` names), STS (the
  role ``AssumeRole`` assumes). Every other request is judged on ``Resource: "*"``, which only a statement whose
  ``Resource`` is ``*`` matches;
- conditions only where the request supplies their keys (it supplies none for these calls: they pass);
- ``sts:GetCallerIdentity`` always passes (as on AWS);
- nothing of what a call implies: no ``iam:PassRole`` for the role ``CreateModel`` passes, no
  ``sagemaker:AddTags`` for the tags a create sets.

What this module adds, in the stack process (:func:`install`), so that the stack is judged like AWS:

- the stack's own traffic (hosting and runtime, the ``local-stack`` key: SageMaker's service side) is not the
  runbook's and is never checked;
- CloudWatch signs as ``monitoring``: its actions are ``cloudwatch:*`` (moto would check ``monitoring:*``);
- ``HeadBucket`` is ``s3:ListBucket`` (moto checks an ``s3:HeadBucket`` that IAM does not have);
- what the stack serves itself is checked with moto's own evaluator: the S3 link's streamed ``GetObject``
  (``s3:GetObject`` on the object) and ``UploadPartCopy`` (``s3:PutObject`` on the target and ``s3:GetObject`` on
  the source, as S3 does), and the runtime's ``InvokeEndpointAsync``/``InvokeEndpoint``
  (``sagemaker:Invoke…`` on the endpoint's ARN: resource-scoped);
- what a SageMaker create implies (:func:`authorize_implied`, from the stack's SageMaker layer): ``iam:PassRole``
  on the role ``CreateModel`` passes, with ``iam:PassedToService`` supplied, and ``sagemaker:AddTags`` on the
  resource a create tags (both resource-scoped).

Client side: :func:`enforce` creates a user holding a policy (and an administrator to change it), then switches
enforcement on; :func:`moto_view` is the policy as moto can judge it: statements keep their resources where moto
(or the stack) judges resources, and hold ``*`` for the rest, so a proof with it is action-complete everywhere and
resource-scoped for S3, SQS, IAM and the runtime.
"""

from __future__ import annotations

import html
import json
import re
import urllib.request
from typing import Any, Callable

__all__ = ["install", "enforcing", "authorize", "authorize_implied", "enforce", "set_policy", "relax", "moto_view", "judged_resource"]

_CRED = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")
_INTERNAL_KEY = "local-stack"
#: signing name → IAM action prefix, where they differ
_PREFIX = {"monitoring": "cloudwatch"}


def _key_of(headers: Any) -> str:
    m = _CRED.search(headers.get("Authorization", "") or "")
    return m.group(1) if m else ""


def enforcing() -> bool:
    """Whether moto's IAM authorization is on (moto's own test: requests counted past the no-auth allowance)."""
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin

    return ActionAuthenticatorMixin.request_count >= settings.INITIAL_NO_AUTH_ACTION_COUNT


def install() -> None:
    """Wrap moto's authorization in the stack process (see the module's docstring). Idempotent."""
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.iam.access_control import IAMRequest, S3IAMRequest

    if getattr(ActionAuthenticatorMixin, "_endpoint_runbook_access", False):
        return

    class StackIAMRequest(IAMRequest):
        def __init__(self, *args: Any, **kwargs: Any):
            super().__init__(*args, **kwargs)
            prefix = _PREFIX.get(self._service)
            if prefix:
                self._action = prefix + self._action[len(self._service):]

    class StackS3IAMRequest(S3IAMRequest):
        def __init__(self, *args: Any, **kwargs: Any):
            super().__init__(*args, **kwargs)
            if self._action == "s3:HeadBucket":
                self._action = "s3:ListBucket"

    original = ActionAuthenticatorMixin._authenticate_and_authorize_action
    classes = {IAMRequest: StackIAMRequest, S3IAMRequest: StackS3IAMRequest}

    def authenticate_and_authorize(self: Any, iam_request_cls: type, resource: str = "*") -> None:
        if _key_of(self.headers) == _INTERNAL_KEY:
            return
        original(self, classes.get(iam_request_cls, iam_request_cls), resource)

    ActionAuthenticatorMixin._authenticate_and_authorize_action = authenticate_and_authorize  # type: ignore[method-assign]
    ActionAuthenticatorMixin._endpoint_runbook_access = True  # type: ignore[attr-defined]


def authorize(environ: dict[str, Any], body: bytes, checks: list[tuple[str, str]], *,
              s3: bool) -> Callable[[dict[str, Any], Callable], list[bytes]] | None:
    """For what the stack serves itself: check each ``(action, resource)`` for the request's signer with moto's
    evaluator. None when allowed (or enforcement is off, or the stack's own key signed it); else the WSGI reply
    (403 in the service's error shape)."""
    if not enforcing():
        return None
    from moto.core.exceptions import ServiceException
    from moto.core.request import Request
    from moto.iam.access_control import IAMRequest, S3IAMRequest
    from moto.iam.models import get_account_id_from
    from werkzeug.exceptions import HTTPException

    request = Request(environ)
    if _key_of(request.headers) == _INTERNAL_KEY:
        return None
    path = request.raw_path + (f"?{environ['QUERY_STRING']}" if environ.get("QUERY_STRING") else "")
    cls = S3IAMRequest if s3 else IAMRequest
    account = get_account_id_from(_key_of(request.headers))
    try:
        for action, resource in checks:
            req = cls(account_id=account, method=environ.get("REQUEST_METHOD", ""), path=path, data={}, body=body,
                      headers=request.headers, action=action.split(":", 1)[1])
            req.check_signature()
            req.check_action_permitted(resource)
    except (HTTPException, ServiceException) as e:  # a refusal (anything else is a bug: a 500)
        if s3:  # S3 answers every authorization failure with 403 and an XML error
            code, text = getattr(e, "code", "AccessDenied"), getattr(e, "message", "Access Denied")
            status, ctype = 403, "application/xml"
            payload = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{html.escape(text)}'
                       "</Message></Error>").encode()
        else:
            code = "AccessDeniedException" if type(e).__name__ == "AccessDeniedError" else type(e).__name__
            status, ctype = int(getattr(e, "code", 403) or 403), "application/json"
            text = getattr(e, "message", None) or getattr(e, "description", None) or str(e)
            payload = json.dumps({"message": f"{text} on resource: {checks[-1][1]}"}).encode()

        def reply(environ: dict[str, Any], start_response: Callable) -> list[bytes]:
            start_response(f"{status} {'Forbidden' if status == 403 else 'Error'}",
                           [("Content-Type", ctype), ("Content-Length", str(len(payload))),
                            ("x-amzn-ErrorType", code)])
            return [payload]

        return reply
    return None


def authorize_implied(response: Any, checks: list[tuple[str, str, dict[str, str] | None]]) -> None:
    """For a call moto has already authorized (its own action): the permissions it implies, judged with moto's
    evaluator for the request's signer — ``iam:PassRole`` on the role ``CreateModel`` passes (with the condition
    key ``iam:PassedToService`` supplied, as IAM supplies it), ``sagemaker:AddTags`` on what a create tags.
    ``checks``: ``(action, resource, condition keys)``. A refusal raises SageMaker's ``AccessDeniedException``
    (403, JSON, naming the action and the resource as AWS does); nothing when enforcement is off or the stack
    signed."""
    if not enforcing() or _key_of(response.headers) == _INTERNAL_KEY:
        return
    from moto.core.exceptions import JsonRESTError
    from moto.iam.access_control import IAMPolicy, IAMRequest, PermissionResult

    req = IAMRequest(account_id=response.current_account, method=response.method, path=response.raw_path,
                     data={}, body=response.raw_body, headers=response.headers, action=response._get_action())
    policies = req._access_key.collect_policies()
    for action, resource, conditions in checks:
        results = {IAMPolicy(p).is_action_permitted(action, resource, None, conditions) for p in policies}
        if PermissionResult.DENIED in results or PermissionResult.PERMITTED not in results:
            refused = JsonRESTError("AccessDeniedException", f"User: {req._access_key.arn} is not authorized to "
                                    f"perform: {action} on resource: {resource} because no identity-based policy "
                                    f"allows the {action} action")
            refused.code = 403
            raise refused


# ---------------------------------------------------------------------------------------------- the client side


def _iam(url: str, region: str, key: str = "testing", secret: str = "testing") -> Any:
    import boto3

    return boto3.session.Session(aws_access_key_id=key, aws_secret_access_key=secret,
                                 region_name=region).client("iam", endpoint_url=url)


def _reset_auth(url: str, value: str) -> None:
    req = urllib.request.Request(f"{url}/moto-api/reset-auth", data=value.encode(), method="POST",
                                 headers={"Content-Type": "text/plain"})  # a form body would reach moto empty
    with urllib.request.urlopen(req, timeout=10) as r:
        r.read()


def enforce(url: str, policy: dict[str, Any], *, user: str = "endpoint-runbook", region: str = "us-east-1",
            view: bool = True) -> dict[str, dict[str, str]]:
    """Create ``user`` holding ``policy`` (as :func:`moto_view` when ``view``) and an administrator, then switch
    enforcement on. Returns their keys: ``{"user": {...}, "admin": {...}}`` (``AWS_ACCESS_KEY_ID`` /
    ``AWS_SECRET_ACCESS_KEY``). Must run before enforcement is on (it signs with any key)."""
    iam = _iam(url, region)
    out = {}
    for name, doc in ((user, moto_view(policy) if view else policy),
                      (f"{user}-admin", {"Version": "2012-10-17", "Statement": [
                          {"Effect": "Allow", "Action": "*", "Resource": "*"}]})):
        iam.create_user(UserName=name)
        iam.put_user_policy(UserName=name, PolicyName="endpoint-runbook", PolicyDocument=json.dumps(doc))
        k = iam.create_access_key(UserName=name)["AccessKey"]
        out["admin" if name.endswith("-admin") else "user"] = {"AWS_ACCESS_KEY_ID": k["AccessKeyId"],
                                                              "AWS_SECRET_ACCESS_KEY": k["SecretAccessKey"]}
    _reset_auth(url, "0")
    return out


def set_policy(url: str, admin: dict[str, str], policy: dict[str, Any], *, user: str = "endpoint-runbook",
               region: str = "us-east-1", view: bool = True) -> None:
    """Replace ``user``'s policy (signed by the administrator :func:`enforce` made)."""
    iam = _iam(url, region, admin["AWS_ACCESS_KEY_ID"], admin["AWS_SECRET_ACCESS_KEY"])
    iam.put_user_policy(UserName=user, PolicyName="endpoint-runbook",
                        PolicyDocument=json.dumps(moto_view(policy) if view else policy))


def relax(url: str) -> None:
    """Switch enforcement off again."""
    _reset_auth(url, "inf")


def judged_resource(action: str) -> bool:
    """Whether the local stack judges ``action``'s resource (else it judges the action on ``*``)."""
    service, _, op = action.partition(":")
    if service == "s3":
        return True
    if service == "sqs":
        return op not in ("CreateQueue", "GetQueueUrl", "ListQueues")  # moto names no queue for these
    if service == "iam":
        return op in ("GetRole", "PassRole")
    if service == "sagemaker":  # the stack's runtime, and the tags a create sets (its SageMaker layer)
        return op in ("InvokeEndpointAsync", "InvokeEndpoint", "AddTags")
    return False


def moto_view(policy: dict[str, Any]) -> dict[str, Any]:
    """``policy`` as the local stack can judge it: each statement split into the actions whose resource it
    judges (resources kept) and the rest (``Resource: "*"``, conditions kept)."""
    out = []
    for st in policy.get("Statement", []):
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        resources = st.get("Resource", "*")
        if resources == "*" or resources == ["*"]:
            out.append(st)
            continue
        kept = [a for a in actions if judged_resource(a)]
        widened = [a for a in actions if not judged_resource(a)]
        for group, res, sid in ((kept, resources, ""), (widened, "*", "OnStar")):
            if group:
                s = {**st, "Action": group, "Resource": res}
                if st.get("Sid"):
                    s["Sid"] = st["Sid"] + sid
                out.append(s)
    return {**policy, "Statement": out}
