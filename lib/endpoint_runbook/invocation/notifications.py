"""SNS ``InferenceResult`` notifications through SQS: a watcher over the endpoint's success/error topics (a given
queue, an existing subscribed queue, or a temporary queue + subscription removed afterwards)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from typing import Any

import botocore.exceptions

from ..aws import error_code, is_error
from ..findings import Finding
from ..records import parse_iso

__all__ = ["TEMPORARY_QUEUE", "NotificationWatcher", "parse_notification"]

#: ``queue_url=TEMPORARY_QUEUE`` always uses a temporary queue, even when a subscribed queue exists.
TEMPORARY_QUEUE = "temporary"


# ---------------------------------------------------------------------------------------------- notifications


def _parse_notification(body: str) -> dict[str, Any] | None:
    """An SQS message body → the SageMaker ``InferenceResult`` message (SNS envelope or raw delivery)."""
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    if isinstance(doc, dict) and doc.get("Type") == "Notification" and isinstance(doc.get("Message"), str):
        try:
            doc = json.loads(doc["Message"])
        except ValueError:
            return None
    if not isinstance(doc, dict) or "inferenceId" not in doc:
        return None
    return doc


def parse_notification(body: str) -> dict[str, Any] | None:
    """An SQS message body → the SageMaker ``InferenceResult`` message, or None when it is not one."""
    return _parse_notification(body)


def _essentials(msg: dict[str, Any], topic: str | None) -> dict[str, Any]:
    resp = msg.get("responseParameters") or {}
    received, event = parse_iso(msg.get("receivedTime")), parse_iso(msg.get("eventTime"))
    return {
        "received": True,
        "status": msg.get("invocationStatus"),
        "event_name": msg.get("eventName"),
        "output_location": resp.get("outputLocation"),
        "failure_location": resp.get("failureLocation"),
        "failure_reason": msg.get("failureReason"),
        "received_time": msg.get("receivedTime"),
        "event_time": msg.get("eventTime"),
        "service_latency_s": round((event - received).total_seconds(), 3) if received and event else None,
        "topic": topic,
    }


class NotificationWatcher:
    """Watches an SQS queue subscribed to the endpoint's SNS topics for the notifications of our requests.

    ``queue_url``: a queue to read (``given``); ``TEMPORARY_QUEUE`` forces a temporary one; None looks for
    an existing queue subscribed to every topic (``existing``) and else creates a temporary queue with a
    policy that lets the topics send, and subscribes it (``temporary``). ``close()`` removes what was
    created. On a shared queue, messages that are not ours are held invisible while we scan (at most
    ``hold_seconds``) and made visible again at once when we are done; ours are deleted.
    """

    def __init__(self, sns: Any, sqs: Any, topics: Iterable[str], *, queue_url: str | None = None,
                 hold_seconds: int = 60, name_tag: str | None = None):
        self.sns, self.sqs = sns, sqs
        self.topics = list(dict.fromkeys(t for t in topics if t))
        self.requested_queue = queue_url
        self.hold_seconds = hold_seconds
        self.name_tag = name_tag or uuid.uuid4().hex[:8]
        self.mode = "none"
        self.queue_url: str | None = None
        self.queue_arn: str | None = None
        self.created_queue = False
        self.subscriptions: list[str] = []
        self.findings: list[Finding] = []
        self.cleanup: dict[str, Any] = {}
        self._watched: set[str] = set()
        self._notes: dict[str, dict[str, Any]] = {}
        self._held: dict[str, str] = {}  # message id → latest receipt handle (not ours)
        self.foreign_seen = 0

    @property
    def active(self) -> bool:
        return self.queue_url is not None

    # -- setup ------------------------------------------------------------------------------------
    def open(self) -> NotificationWatcher:
        if not self.topics:
            self.mode = "none"
            return self
        if self.requested_queue and self.requested_queue != TEMPORARY_QUEUE:
            self.queue_url, self.mode = self.requested_queue, "given"
            return self
        if self.requested_queue is None:
            found = self._find_existing()
            if found:
                self.queue_url, self.mode = found, "existing"
                return self
        self._create_temporary()
        return self

    def subscribed_queue(self) -> str | None:
        """An existing queue subscribed to every topic (None when there is none): the only place past
        notifications can still be read."""
        return self._find_existing()

    def _find_existing(self) -> str | None:
        per_topic: list[set[str]] = []
        for topic in self.topics:
            arns: set[str] = set()
            try:
                for page in self.sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic):
                    for sub in page.get("Subscriptions", []):
                        if sub.get("Protocol") == "sqs" and sub.get("Endpoint", "").startswith("arn:"):
                            arns.add(sub["Endpoint"])
            except botocore.exceptions.ClientError as e:
                self.findings.append(Finding(
                    "subscriptions-unlisted", "info",
                    f"Could not list the subscriptions of {topic} ({error_code(e)}); a temporary queue is used.",
                    [str(e)]))
                return None
            per_topic.append(arns)
        common = set.intersection(*per_topic) if per_topic else set()
        region = self.sqs.meta.region_name
        for arn in sorted(common):
            parts = arn.split(":")
            if len(parts) != 6 or parts[3] != region:
                continue
            try:
                return self.sqs.get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])["QueueUrl"]
            except botocore.exceptions.ClientError:
                continue
        return None

    def _create_temporary(self) -> None:
        name = f"endpoint-runbook-verify-{self.name_tag}"
        try:
            self.queue_url = self.sqs.create_queue(
                QueueName=name, Attributes={"MessageRetentionPeriod": "3600"},
                tags={"endpoint-runbook:purpose": "verify-temporary"})["QueueUrl"]
        except botocore.exceptions.ClientError as e:
            self._unavailable("queue-create-failed", f"Could not create the temporary queue {name}", e)
            return
        self.created_queue, self.mode = True, "temporary"
        try:
            self.queue_arn = self.sqs.get_queue_attributes(
                QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            policy = {"Version": "2012-10-17", "Statement": [{
                "Sid": "endpoint-runbook-verify", "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
                "Resource": self.queue_arn, "Condition": {"ArnEquals": {"aws:SourceArn": self.topics}}}]}
            self.sqs.set_queue_attributes(QueueUrl=self.queue_url, Attributes={"Policy": json.dumps(policy)})
            for topic in self.topics:
                sub = self.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=self.queue_arn,
                                         ReturnSubscriptionArn=True)
                self.subscriptions.append(sub["SubscriptionArn"])
        except botocore.exceptions.ClientError as e:
            code = "topic-not-found" if is_error(e, "NotFound", "NotFoundException") else "subscribe-failed"
            self._unavailable(code, "Could not subscribe a temporary queue to the endpoint's topics", e)
            self.close()
            self.queue_url = None

    def _unavailable(self, code: str, what: str, e: botocore.exceptions.ClientError) -> None:
        self.mode = "unavailable"
        self.findings.append(Finding(
            code, "error",
            f"{what} ({error_code(e)}): the notifications cannot be observed. Check that the topics exist and "
            "that you may sns:Subscribe and sqs:CreateQueue, or pass queue_url of a queue subscribed to them.",
            [str(e)], {"topics": self.topics}))

    # -- watching ---------------------------------------------------------------------------------
    def watch(self, inference_id: str) -> None:
        self._watched.add(inference_id)

    def get(self, inference_id: str) -> dict[str, Any] | None:
        return self._notes.get(inference_id)

    def poll(self, wait_seconds: int = 0) -> int:
        """Receive once; keep the notifications of watched ids. Returns how many of ours were matched."""
        if not self.active:
            return 0
        try:
            resp = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10,
                                            WaitTimeSeconds=wait_seconds, VisibilityTimeout=self.hold_seconds,
                                            MessageAttributeNames=["All"])
        except botocore.exceptions.ClientError as e:
            if not any(f.code == "queue-unreadable" for f in self.findings):
                self.findings.append(Finding(
                    "queue-unreadable", "error",
                    f"Could not read {self.queue_url} ({error_code(e)}): check sqs:ReceiveMessage on it, or let "
                    "verify create a temporary queue (queue_url=None).", [str(e)]))
            return 0
        matched = 0
        for m in resp.get("Messages", []):
            msg = _parse_notification(m.get("Body", ""))
            iid = msg.get("inferenceId") if msg else None
            if iid in self._watched:
                topic = None
                try:
                    topic = json.loads(m["Body"]).get("TopicArn")
                except (ValueError, AttributeError):
                    pass
                self._notes[iid] = _essentials(msg, topic)
                matched += 1
                try:
                    self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])
                except botocore.exceptions.ClientError:
                    pass
                self._held.pop(m.get("MessageId", ""), None)
            else:
                self.foreign_seen += 1
                self._held[m.get("MessageId", "")] = m["ReceiptHandle"]
        return matched

    def release(self) -> None:
        """Make the messages that are not ours visible again at once."""
        for handle in list(self._held.values()):
            try:
                self.sqs.change_message_visibility(QueueUrl=self.queue_url, ReceiptHandle=handle,
                                                   VisibilityTimeout=0)
            except botocore.exceptions.ClientError:
                pass  # the hold expired on its own, or another reader has it now
        self._held.clear()

    # -- teardown ---------------------------------------------------------------------------------
    def close(self) -> dict[str, Any]:
        """Remove what was created (idempotent); make held messages visible again. Returns what was done."""
        info = self.cleanup or {"unsubscribed": [], "queue_deleted": False, "errors": []}
        if self.queue_url and not self.created_queue:
            self.release()
        for arn in list(self.subscriptions):
            try:
                self.sns.unsubscribe(SubscriptionArn=arn)
                info["unsubscribed"].append(arn)
                self.subscriptions.remove(arn)
            except botocore.exceptions.ClientError as e:
                info["errors"].append(f"unsubscribe {arn}: {error_code(e)}")
        if self.created_queue and self.queue_url:
            try:
                self.sqs.delete_queue(QueueUrl=self.queue_url)
                info["queue_deleted"] = True
                self.created_queue = False
            except botocore.exceptions.ClientError as e:
                info["errors"].append(f"delete queue {self.queue_url}: {error_code(e)}")
        self.cleanup = info
        return info

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "queue_url": self.queue_url or (self.requested_queue
                                                                    if self.requested_queue != TEMPORARY_QUEUE else None),
                "topics": self.topics, "temporary_queue_arn": self.queue_arn, "cleanup": self.cleanup,
                "foreign_messages_seen": self.foreign_seen, "findings": [f.to_dict() for f in self.findings]}
