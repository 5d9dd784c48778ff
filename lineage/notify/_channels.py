"""Channels: how a notification leaves, one small class per kind, chosen by the kind a
consumer registered (`webhook`, `email`, `file`), as the OpenLineage client picks its
transports. A plugin adds a kind with `register_channel`.

A channel object serves every channel row of its kind (the target and secret come with each
outbox item), so one webhook channel shares one HTTP client, and its kept-alive connections,
across every consumer. `send` returns when the receiver has the notification and raises
`DeliveryFailed` otherwise; the deliverer retries later.
"""

from __future__ import annotations

import json
import os
import smtplib
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any, ClassVar

from .._errors import LineageError, ValidationError
from .._model import OutboxItem
from . import _message

if TYPE_CHECKING:  # imported when the first webhook channel is made: `import lineage` stays fast
    import httpx

USER_AGENT = "lineage/0.1.0"


class DeliveryFailed(LineageError):
    """A channel could not deliver a notification (network error, non-2xx answer, SMTP
    refusal, unwritable file). The deliverer records the message and retries later."""


@dataclass(frozen=True)
class NotifySettings:
    """How channels reach the outside world: `LINEAGE_SMTP_HOST` / `_PORT` / `_FROM` /
    `_USER` / `_PASSWORD`, `LINEAGE_WEBHOOK_TIMEOUT`, and the environment that webhook
    secrets named by `secret_env` are read from. Channel settings override the SMTP ones."""

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_from: str = "lineage@localhost"
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_timeout: float = 10.0
    webhook_timeout: float = 10.0
    environ: Mapping[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> NotifySettings:
        env = dict(os.environ if environ is None else environ)

        def number(name: str, default: float, kind: Callable[[str], Any]) -> Any:
            text = env.get(name)
            if not text:
                return default
            try:
                return kind(text)
            except ValueError:
                raise ValidationError(f"{name}={text!r} is not a number") from None

        return cls(smtp_host=env.get("LINEAGE_SMTP_HOST") or cls.smtp_host,
                   smtp_port=number("LINEAGE_SMTP_PORT", cls.smtp_port, int),
                   smtp_from=env.get("LINEAGE_SMTP_FROM") or cls.smtp_from,
                   smtp_user=env.get("LINEAGE_SMTP_USER") or None,
                   smtp_password=env.get("LINEAGE_SMTP_PASSWORD") or None,
                   webhook_timeout=number("LINEAGE_WEBHOOK_TIMEOUT", cls.webhook_timeout,
                                          float),
                   environ=env)


class Channel(ABC):
    """One kind of delivery. `send` delivers or raises DeliveryFailed; it may be called from
    several threads at once."""

    kind: ClassVar[str]

    def __init__(self, settings: NotifySettings) -> None:
        self.settings = settings

    @abstractmethod
    def send(self, item: OutboxItem) -> None:
        """Deliver `item` to `item.channel.target`; raise DeliveryFailed when it did not
        arrive (the receiver may still have it: delivery is at-least-once)."""

    def close(self) -> None:  # noqa: B027 - optional: most channels hold nothing open
        """Release connections and files."""


class WebhookChannel(Channel):
    """POST the payload as JSON (Slack-compatible: it has a top-level `text`).

    Headers: `X-Lineage-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes>` (with
    the channel's secret, or the one in the environment variable its `secret_env` setting
    names; no header when it has neither), `X-Lineage-Idempotency-Key` (the same at every
    redelivery) and `X-Lineage-Timestamp` (Unix seconds of this attempt). A 2xx answer is
    delivered; any other answer, a timeout or a network error is a failure.
    """

    kind = "webhook"

    def __init__(self, settings: NotifySettings) -> None:
        super().__init__(settings)
        import httpx

        self._httpx = httpx
        # One client for every webhook: connections to a receiver are kept alive between
        # notifications (and shared by the deliverer's threads).
        self.client: httpx.Client = httpx.Client(
            timeout=settings.webhook_timeout, follow_redirects=False,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
            headers={"User-Agent": USER_AGENT})

    def secret(self, item: OutboxItem) -> str | None:
        channel = item.channel
        if channel.secret:
            return channel.secret
        name = channel.settings.get("secret_env")
        if not name:
            return None
        value = self.settings.environ.get(str(name))
        if not value:
            raise DeliveryFailed(f"the webhook secret is in environment variable {name}, "
                                 "which is not set for the deliverer")
        return value

    def send(self, item: OutboxItem) -> None:
        data = _message.body(item.payload)
        headers = {"Content-Type": "application/json",
                   "X-Lineage-Idempotency-Key": item.idempotency_key,
                   "X-Lineage-Timestamp": str(int(time.time()))}
        secret = self.secret(item)
        if secret is not None:
            headers["X-Lineage-Signature"] = _message.signature(secret, data)
        url = item.channel.target
        try:
            response = self.client.post(url, content=data, headers=headers)
        except self._httpx.HTTPError as exc:
            raise DeliveryFailed(f"POST {url}: {type(exc).__name__}: {exc}") from exc
        if not response.is_success:
            raise DeliveryFailed(f"POST {url}: HTTP {response.status_code} "
                                 f"{response.text[:200]!r}")

    def close(self) -> None:
        self.client.close()


class EmailChannel(Channel):
    """An email to `target` over SMTP: the subject names the breaking change, the body is
    the summary then the payload as JSON. Host and port come from the channel's `host` /
    `port` settings, else LINEAGE_SMTP_HOST / LINEAGE_SMTP_PORT (default 127.0.0.1:25);
    the sender is LINEAGE_SMTP_FROM. The Message-ID derives from the idempotency key, so
    mail clients fold a redelivered copy into the first."""

    kind = "email"

    def send(self, item: OutboxItem) -> None:
        settings, channel = self.settings, item.channel.settings
        host = str(channel.get("host") or settings.smtp_host)
        port = int(channel.get("port") or settings.smtp_port)
        message = EmailMessage()
        message["From"] = str(channel.get("from") or settings.smtp_from)
        message["To"] = item.channel.target
        message["Subject"] = str(item.payload.get("subject") or f"[lineage] {item.event}")
        message["Message-ID"] = f"<{item.idempotency_key}@lineage>"
        message["X-Lineage-Idempotency-Key"] = item.idempotency_key
        text = str(item.payload.get("text") or "")
        document = json.dumps(item.payload, indent=2, sort_keys=True, ensure_ascii=False)
        message.set_content(f"{text}\n\n{document}\n")
        try:
            with smtplib.SMTP(host, port, timeout=settings.smtp_timeout) as smtp:
                if settings.smtp_user and settings.smtp_password:
                    smtp.ehlo()
                    if not smtp.has_extn("starttls"):
                        raise DeliveryFailed(f"SMTP {host}:{port} offers no STARTTLS; "
                                             "refusing to send the password in the clear")
                    smtp.starttls()
                    smtp.ehlo()
                    smtp.login(settings.smtp_user, settings.smtp_password)
                smtp.send_message(message)
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryFailed(f"SMTP {host}:{port} to {item.channel.target}: "
                                 f"{type(exc).__name__}: {exc}") from exc


class FileChannel(Channel):
    """Append the payload as one NDJSON line to the file `target` (`-`: standard output),
    flushed and fsync'ed before `send` returns."""

    kind = "file"

    def __init__(self, settings: NotifySettings) -> None:
        super().__init__(settings)
        self._lock = threading.Lock()  # one line at a time: lines never interleave

    def send(self, item: OutboxItem) -> None:
        line = _message.body(item.payload).decode("utf-8") + "\n"
        target = item.channel.target
        try:
            with self._lock:
                if target == "-":
                    sys.stdout.write(line)
                    sys.stdout.flush()
                    return
                # a sink's folder is part of its address: make it, as a log file's would be
                os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
                with open(target, "a", encoding="utf-8") as f:
                    f.write(line)
                    f.flush()
                    os.fsync(f.fileno())
        except OSError as exc:
            raise DeliveryFailed(f"append to {target}: {exc.strerror or exc}") from exc


#: channel classes by kind; `register_channel` adds one
CHANNELS: dict[str, type[Channel]] = {c.kind: c for c in (WebhookChannel, EmailChannel,
                                                          FileChannel)}


def register_channel(cls: type[Channel]) -> None:
    """Deliver channels of kind `cls.kind` with `cls`."""
    CHANNELS[cls.kind] = cls


def channel_for(kind: str, settings: NotifySettings | None = None) -> Channel:
    """A channel object for `kind`; ValidationError for a kind nobody registered."""
    cls = CHANNELS.get(kind)
    if cls is None:
        raise ValidationError(f"no channel for kind '{kind}'; kinds are "
                              + ", ".join(sorted(CHANNELS)))
    return cls(settings or NotifySettings.from_env())
