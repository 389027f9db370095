"""Sending one e-mail with smtplib (standard library), in a thread so the event loop never waits on a
mail server. ``BWV_SMTP_URL``: ``smtp://[user:password@]host[:port]`` speaks STARTTLS when the server
offers it (``?starttls=required`` refuses a server that does not), ``smtps://`` is TLS from the start
(port 465). The password may also come from ``BWV_SMTP_PASSWORD`` rather than the URL."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

from service.config import ConfigError, Settings
from service.notify.models import Mail


def _parts(settings: Settings) -> tuple[str, str, int, str | None, str | None, bool]:
    url = settings.smtp_url
    if not url:
        raise ConfigError("BWV_SMTP_URL is not set; e-mail notifications are off.")
    u = urlsplit(url)
    if u.scheme not in ("smtp", "smtps") or not u.hostname:
        raise ConfigError(f"BWV_SMTP_URL must be smtp://host[:port] or smtps://host[:port], not {u.scheme}://…")
    port = u.port or (465 if u.scheme == "smtps" else 587)
    user = unquote(u.username) if u.username else None
    password = unquote(u.password) if u.password else settings.smtp_password
    required = parse_qs(u.query).get("starttls", ["auto"])[0] == "required"
    return u.scheme, u.hostname, port, user, password, required


def check(settings: Settings) -> None:
    """Start-up check: a configured URL must parse (an unset one just means no e-mail)."""
    if settings.smtp_url:
        _parts(settings)
        if not settings.mail_from:
            raise ConfigError("BWV_MAIL_FROM is required with BWV_SMTP_URL.")


def message(settings: Settings, mail: Mail) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = settings.mail_from or "bodycam@localhost"
    msg["To"] = mail.to
    msg["Subject"] = mail.subject
    msg["X-Bodycam-Kind"] = mail.kind.value
    msg.set_content(mail.body)
    return msg


def send_sync(settings: Settings, mail: Mail) -> None:
    scheme, host, port, user, password, required = _parts(settings)
    tls = ssl.create_default_context(cafile=settings.smtp_ca_file) if settings.smtp_ca_file else \
        ssl.create_default_context()
    timeout = settings.smtp_timeout_s
    if scheme == "smtps":
        client: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout, context=tls)
    else:
        client = smtplib.SMTP(host, port, timeout=timeout)
    with client:
        client.ehlo()
        if scheme == "smtp":
            if client.has_extn("starttls"):
                client.starttls(context=tls)
                client.ehlo()
            elif required:
                raise smtplib.SMTPException(f"{host}:{port} does not offer STARTTLS (starttls=required)")
        if user:
            client.login(user, password or "")
        client.send_message(message(settings, mail))


async def send(settings: Settings, mail: Mail) -> None:
    await asyncio.to_thread(send_sync, settings, mail)
