"""Channels: how a notification leaves, one small class per kind, chosen by the kind a
consumer registered (`webhook`, `email`, `file`), as the OpenLineage client picks its
transports. A plugin adds a kind with `register_channel`.

A channel object serves every channel row of its kind (the target and secret come with each
outbox item), so one webhook channel shares one HTTP client, and its kept-alive connections,
across every consumer. `send` returns when the receiver has the notification and raises
`DeliveryFailed` otherwise; the deliverer retries later.
"""

from __future__ import annotations

import errno
import json
import os
import smtplib
import stat
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from functools import partial
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from .._errors import LineageError, ValidationError
from .._model import OutboxItem
from .._settings import DEFAULT_NOTIFICATIONS_ROOT
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
    `_USER` / `_PASSWORD`, `LINEAGE_WEBHOOK_TIMEOUT`, `LINEAGE_NOTIFICATIONS_ROOT` (the
    folder file channels write below), and the environment that webhook secrets named by
    `secret_env` are read from. Channel settings override the SMTP ones."""

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_from: str = "lineage@localhost"
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_timeout: float = 10.0
    webhook_timeout: float = 10.0
    notifications_root: str = DEFAULT_NOTIFICATIONS_ROOT
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
                   notifications_root=env.get("LINEAGE_NOTIFICATIONS_ROOT")
                   or DEFAULT_NOTIFICATIONS_ROOT,
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

    Headers: `X-Lineage-Timestamp` (Unix seconds of this attempt), `X-Lineage-Signature:
    sha256=<hex HMAC-SHA256 of "<timestamp>." + the exact body bytes>` (with the channel's
    secret, or the one in the environment variable its `secret_env` setting names; no
    header when it has neither; see `lineage.notify.verify`) and
    `X-Lineage-Idempotency-Key` (the same at every redelivery). A 2xx answer is delivered;
    any other answer, a timeout or a network error is a failure.
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
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json",
                   "X-Lineage-Idempotency-Key": item.idempotency_key,
                   "X-Lineage-Timestamp": timestamp}
        secret = self.secret(item)
        if secret is not None:
            headers["X-Lineage-Signature"] = _message.signature(secret, data, timestamp)
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
    """Append the payload as one NDJSON line to the file `target` below the notifications
    root (`NotifySettings.notifications_root`; `-`: standard output), flushed and fsync'ed
    before `send` returns. Folders below the root are made as needed; no symbolic link
    below the root is followed and only a regular file with one link is appended to, so a
    channel cannot write outside the root (see `file_target`)."""

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
                root = self.settings.notifications_root
                try:
                    parts = file_target(target, root)
                except ValidationError as exc:
                    raise DeliveryFailed(exc.message) from None
                fd = _open_below(root, parts)
                with os.fdopen(fd, "a", encoding="utf-8") as f:
                    f.write(line)
                    f.flush()
                    os.fsync(f.fileno())
        except OSError as exc:
            raise DeliveryFailed(f"append to {target}: {exc.strerror or exc}") from exc


def file_target(path: str, root: str) -> tuple[str, ...]:
    """The parts, below `root`, of the file a file channel's `path` names: a path relative
    to the root (`risk-team.ndjson`, `teams/risk.ndjson`), or an absolute one inside it.
    ValidationError for `..`, an empty path, or an absolute path outside the root.
    Lexical only: `check_file_target` also looks at what is on disk."""
    if not path or "\x00" in path:
        raise ValidationError("a file channel's path is empty or holds NUL")
    given = PurePosixPath(path)
    if given.is_absolute():
        real_root = PurePosixPath(os.path.realpath(root))
        if ".." in given.parts or not given.is_relative_to(real_root):
            raise ValidationError(f"file channel path '{path}' is outside the notifications "
                                  f"root {real_root} (LINEAGE_NOTIFICATIONS_ROOT); give a "
                                  "path relative to the root")
        given = given.relative_to(real_root)
    if ".." in given.parts:
        raise ValidationError(f"file channel path '{path}' climbs out of the notifications "
                              "root with '..'; give a path below the root")
    parts = tuple(p for p in given.parts if p not in (".", ""))
    if not parts:
        raise ValidationError(f"file channel path '{path}' names the notifications root "
                              "itself, not a file below it")
    return parts


def check_file_target(path: str, root: str) -> None:
    """`file_target`, and ValidationError when a part of the path that already exists
    below the root is a symbolic link (delivery would refuse it), or the file is not a
    regular file. For register time: the deliverer checks again as it opens."""
    if path == "-":
        return
    parts = file_target(path, root)
    where = root
    for i, part in enumerate(parts):
        where = os.path.join(where, part)
        try:
            found = os.lstat(where)
        except FileNotFoundError:
            return  # the rest is made at delivery
        except OSError as exc:
            raise ValidationError(f"file channel path '{path}': {exc.strerror}") from None
        if stat.S_ISLNK(found.st_mode):
            raise ValidationError(f"file channel path '{path}': {where} is a symbolic link; "
                                  "file channels do not follow links")
        last = i == len(parts) - 1
        if not last and not stat.S_ISDIR(found.st_mode):
            raise ValidationError(f"file channel path '{path}': {where} is not a folder")
        if last and not stat.S_ISREG(found.st_mode):
            raise ValidationError(f"file channel path '{path}': {where} is not a regular file")


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = (os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK
               | os.O_CLOEXEC)


def _open_below(root: str, parts: tuple[str, ...]) -> int:
    """A descriptor open for appending to root/parts..., walked one folder at a time
    relative to the previous one's descriptor with O_NOFOLLOW, so no link below the root is
    followed even if one appears between a check and the open. The root itself is the
    operator's: made if missing, and may be a link."""
    os.makedirs(root, exist_ok=True)
    folder = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in parts[:-1]:
            try:
                os.mkdir(part, 0o777, dir_fd=folder)
            except FileExistsError:
                pass
            below = _refusing_links(partial(os.open, part, _DIR_FLAGS, dir_fd=folder), part)
            os.close(folder)
            folder = below
        # O_NONBLOCK: opening a FIFO planted there must fail or return, never hang
        fd = _refusing_links(partial(os.open, parts[-1], _FILE_FLAGS, 0o666, dir_fd=folder),
                             parts[-1])
    finally:
        os.close(folder)
    found = os.fstat(fd)
    if not stat.S_ISREG(found.st_mode) or found.st_nlink > 1:
        os.close(fd)
        what = "has several hard links" if stat.S_ISREG(found.st_mode) else "is not a regular file"
        raise DeliveryFailed(f"{os.path.join(root, *parts)} {what}; file channels append "
                             "only to their own regular files")
    os.set_blocking(fd, True)
    return fd


def _refusing_links(opener: Callable[[], int], part: str) -> int:
    try:
        return opener()
    except OSError as exc:
        # O_NOFOLLOW on a link: ELOOP; O_DIRECTORY on a file or a link to one: ENOTDIR
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise DeliveryFailed(f"'{part}' below the notifications root is a symbolic link "
                                 f"or not a folder ({exc.strerror}); file channels do not "
                                 "follow links") from None
        raise


def check_webhook_url(url: str) -> None:
    """ValidationError unless `url` is an http or https URL with a host."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise ValidationError(f"webhook url '{url}' is not a URL: {exc}") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValidationError(f"webhook url '{url}' is not an http or https URL with a "
                              "host; webhooks are POSTed over HTTP(S)")


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
