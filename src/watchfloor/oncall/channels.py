"""Sending one message to one destination: email through the configured SMTP relay, anything
else through apprise.

`send(medium, address, subject=…, text=…, short=…)` returns a `SendResult(ok, error, latency)`
and never raises for a failed send. Every network call has a timeout (`NOTIFY_TIMEOUT`). Error
texts never carry the destination's URL, token or password (apprise URLs hold secrets): they
are scrubbed before anyone stores or logs them. A destination that keeps failing is logged once
when it starts failing and once when it recovers, never per attempt.

Email goes through smtplib, not apprise's `mailto://`: Watchfloor sends every email through one
relay configured once (`WATCHFLOOR_SMTP_URL`), while apprise's mailto describes a mailbox per URL
and does not accept a bare relay such as `mailto://127.0.0.1:2525` (docs/decisions.md).
"""

from __future__ import annotations

import hashlib
import logging
import re
import smtplib
import ssl
import time
import uuid
from email.message import EmailMessage
from email.utils import formatdate
from typing import NamedTuple
from urllib.parse import unquote, urlsplit

import apprise
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from watchfloor.access.masking import mask_text
from watchfloor.oncall.metrics import DELIVERIES, DELIVERY_SECONDS
from watchfloor.oncall.models import Medium

log = logging.getLogger(__name__)
# apprise logs every failed attempt, with the host it tried: its records are captured per send
# (LogCapture's own handler) and never reach the application's handlers.
logging.getLogger("apprise").propagate = False

MAX_ERROR = 500
# Which apprise schemes each medium accepts (`apprise` accepts any scheme apprise knows).
SCHEMES: dict[str, frozenset[str]] = {
    Medium.SLACK: frozenset({"slack"}),
    Medium.TEAMS: frozenset({"msteams", "workflow", "workflows"}),
    Medium.TELEGRAM: frozenset({"tgram"}),
    Medium.WEBHOOK: frozenset({"json", "jsons", "xml", "xmls", "form", "forms"}),
    Medium.SMS: frozenset(
        {
            "twilio",
            "sns",
            "vonage",
            "nexmo",
            "sinch",
            "plivo",
            "msgbird",
            "clicksend",
            "d7sms",
            "bulksms",
            "bulkvs",
            "seven",
            "46elks",
            "elks",
            "httpsms",
            "smseagle",
            "smseagles",
            "kavenegar",
            "voipms",
            "atalk",
            "smsmgr",
            "smsmanager",
            "serwersms",
            "smstunnel",
            "smsc",
            "signal",
            "signals",
        }
    ),
}
# Mediums whose messages are short (a text message): they get the short form.
SHORT_MEDIUMS = frozenset({Medium.SMS})


class SendResult(NamedTuple):
    ok: bool
    error: str  # "" when ok; scrubbed of secrets
    latency: float  # seconds the send took
    # the failure is the destination's (unreachable, timing out, refusing the service's
    # request), not one recipient's: what counts against its circuit breaker
    destination_failed: bool = False


# The relay answered, refusing one recipient or message: the relay itself is fine.
_RELAY_ANSWERED = (
    smtplib.SMTPRecipientsRefused,
    smtplib.SMTPSenderRefused,
    smtplib.SMTPDataError,
    smtplib.SMTPNotSupportedError,
)


# --- addresses -----------------------------------------------------------------------------------
def clean_address(medium: str, address: str) -> str:
    """Validate an address for a medium: a plain email address for `email`, else an apprise URL
    that apprise can parse and whose scheme belongs to the medium. Raises `ValidationError`
    naming `address` (the message never repeats the address: it may hold a token)."""
    if not isinstance(address, str):
        raise ValidationError({"address": "Give an address."})
    address = address.strip()
    if not address:
        raise ValidationError({"address": "Give an address."})
    if len(address) > 1000:
        raise ValidationError({"address": "At most 1000 characters."})
    if "\x00" in address or any(0xD800 <= ord(ch) <= 0xDFFF for ch in address):
        raise ValidationError({"address": "Contains characters that are not allowed."})
    if medium == Medium.EMAIL:
        if len(address) > 254:
            raise ValidationError({"address": "An email address has at most 254 characters."})
        try:
            validate_email(address)
        except ValidationError:
            raise ValidationError({"address": "Not a valid email address."}) from None
        return address
    if medium not in Medium.values:
        raise ValidationError({"medium": "Unknown medium."})
    scheme = address.split("://", 1)[0].lower() if "://" in address else ""
    if not scheme:
        raise ValidationError({"address": "Give an apprise URL, such as slack://… or json://…"})
    allowed = SCHEMES.get(medium)
    if allowed is not None and scheme not in allowed:
        raise ValidationError(
            {"address": f"A {medium} address starts with {' or '.join(sorted(allowed))}://"}
        )
    if scheme in ("mailto", "mailtos"):
        raise ValidationError(
            {"address": "For email, choose the email medium and give an address."}
        )
    if _instantiate(address) is None:
        raise ValidationError({"address": "Apprise cannot read this URL."})
    return address


def _instantiate(address: str):
    try:
        return apprise.Apprise.instantiate(address, suppress_exceptions=True)
    except Exception:
        return None


def display_address(medium: str, address: str) -> str:
    """How an address is shown back: an email in full (to its owner), an apprise URL with its
    secrets cut (`slack://T...D/B...H/a...x`, no query)."""
    if medium == Medium.EMAIL:
        return address
    obj = _instantiate(address)
    shown = obj.url(privacy=True) if obj is not None else address.split("://", 1)[0] + "://***"
    shown = shown.split("?", 1)[0]
    scheme, _, rest = shown.partition("://")
    host, _, path = rest.partition("/")
    parts = [_hide(p) for p in path.split("/") if p]
    return f"{scheme}://{host}" + "".join(f"/{p}" for p in parts)


def _hide(segment: str) -> str:
    """A path segment apprise left readable may be a token: keep its ends only."""
    if "..." in segment or "*" in segment or len(segment) <= 4:
        return segment
    return f"{segment[0]}...{segment[-1]}"


def destination_key(medium: str, address: str) -> str:
    """Who we talk to on the network, without secrets: the relay for email, else the medium and
    a hash of the URL's host and port (a host may itself be a token: tgram://<bot token>/...)."""
    if medium == Medium.EMAIL:
        host = urlsplit(settings.SMTP_URL).hostname or "none"
        return f"email relay {hashlib.sha256(host.encode()).hexdigest()[:8]}"
    try:
        parts = urlsplit(address)
        host = f"{parts.hostname or ''}:{parts.port or ''}"
    except ValueError:
        host = ""
    return f"{medium} {hashlib.sha256(host.encode()).hexdigest()[:8]}"


# --- scrubbing -----------------------------------------------------------------------------------
_URL_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")
_WITH_URL_RE = re.compile(r"(url|URL|Url):\s*\S+")


def scrub(text: str, *secrets: str) -> str:
    """`text` without URLs and without any of `secrets` or their parts (user, password, path
    segments, query values), cut to MAX_ERROR characters."""
    text = str(text or "")
    pieces: set[str] = set()
    for secret in secrets:
        if not secret:
            continue
        pieces.add(secret)
        try:
            parts = urlsplit(secret)
        except ValueError:
            continue
        for value in (parts.username, parts.password, parts.netloc):
            # (a piece shorter than 4 characters would mangle the text around it: `u` in
            # "occurred"; the URL itself is cut whole below)
            if value and len(value) >= 4:
                pieces.update({value, unquote(value)})
        for segment in parts.path.split("/"):
            if len(segment) >= 4:
                pieces.update({segment, unquote(segment)})
        for pair in parts.query.split("&"):
            value = pair.partition("=")[2]
            if len(value) >= 4:
                pieces.update({value, unquote(value)})
    for piece in sorted(pieces, key=len, reverse=True):
        text = text.replace(piece, "***")
    text = _URL_RE.sub("<url>", text)
    text = _WITH_URL_RE.sub(r"\1: ***", text)
    text = " ".join(text.split())
    return text[:MAX_ERROR]


# --- health of destinations (log on change only) -------------------------------------------------
_FAILING = "watchfloor:notify:failing:"


def _note_outcome(key: str, ok: bool, error: str) -> None:
    """Log a destination's change of state once. The marker lives in the cache; with the cache
    down (Redis stopped) the send's outcome still counts, only this bookkeeping is skipped."""
    marker = _FAILING + hashlib.sha256(key.encode()).hexdigest()[:16]
    try:
        if ok:
            if cache.delete(marker):
                log.info("notification destination recovered: %s", key)
        elif cache.add(marker, 1, timeout=None):
            log.warning("notification destination started failing: %s: %s", key, mask_text(error))
    except Exception:  # the cache's own outage is logged where the cache is used by the pages
        return


# --- sending -------------------------------------------------------------------------------------
def send(medium: str, address: str, *, subject: str, text: str, short: str) -> SendResult:
    """Send one message; never raises for a failed send."""
    started = time.perf_counter()
    destination_failed = False
    try:
        if medium == Medium.EMAIL:
            error = _send_email(address, subject, text)  # "" or a refusal: the relay answered
        else:
            body = short if medium in SHORT_MEDIUMS else text
            title = "" if medium in SHORT_MEDIUMS else subject
            error = _send_apprise(address, title, body)
            destination_failed = bool(error)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        destination_failed = not isinstance(exc, _RELAY_ANSWERED)
    latency = time.perf_counter() - started
    secrets = [address, settings.SMTP_URL] if medium == Medium.EMAIL else [address]
    error = scrub(error, *secrets) if error else ""
    _note_outcome(destination_key(medium, address), not error, error)
    DELIVERIES.labels(medium=medium, outcome="failed" if error else "sent").inc()
    DELIVERY_SECONDS.labels(medium=medium).observe(latency)
    return SendResult(not error, error, latency, destination_failed and bool(error))


def circuit_name(medium: str, address: str) -> str:
    """The circuit breaker of a destination (watchfloor.circuit), without secrets.

    Email: the one relay every email goes through (a relay that is down fails every address).
    Anything else: the medium and a hash of the whole apprise URL, so one team's revoked Slack
    webhook or dead receiver opens its own circuit and never holds back another team's (or
    another tenant's) deliveries to the same service; a whole service down opens each of its
    destinations' circuits after CIRCUIT_FAILURES failures each.
    """
    if medium == Medium.EMAIL:
        target = urlsplit(settings.SMTP_URL).hostname or "none"
        return f"notify:email:{hashlib.sha256(target.encode()).hexdigest()[:12]}"
    return f"notify:{medium}:{hashlib.sha256(address.encode()).hexdigest()[:12]}"


def _smtp_parts() -> tuple[str, str, int, str, str]:
    url = settings.SMTP_URL
    if not url:
        raise RuntimeError("no SMTP relay is configured (WATCHFLOOR_SMTP_URL)")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    defaults = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}
    if scheme not in defaults or not parts.hostname:
        raise RuntimeError("WATCHFLOOR_SMTP_URL must be smtp://, smtp+starttls:// or smtps://")
    return (
        scheme,
        parts.hostname,
        parts.port or defaults[scheme],
        unquote(parts.username or ""),
        unquote(parts.password or ""),
    )


def _send_email(address: str, subject: str, text: str) -> str:
    scheme, host, port, user, password = _smtp_parts()
    message = EmailMessage()
    message["From"] = settings.EMAIL_FROM
    message["To"] = address
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = f"<{uuid.uuid4().hex}@watchfloor>"
    message.set_content(text)
    timeout = settings.NOTIFY_TIMEOUT
    smtp: smtplib.SMTP
    if scheme == "smtps":
        smtp = smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
    else:
        smtp = smtplib.SMTP(host, port, timeout=timeout)
    with smtp:
        if scheme == "smtp+starttls":
            smtp.starttls(context=ssl.create_default_context())
        if user:
            smtp.login(user, password)
        refused = smtp.send_message(message)
    if refused:
        return "the relay refused the recipient"
    return ""


def _send_apprise(address: str, title: str, body: str) -> str:
    plugin = _instantiate(address)
    if plugin is None:
        return "apprise cannot read this URL"
    timeout = settings.NOTIFY_TIMEOUT
    plugin.socket_connect_timeout = timeout
    plugin.socket_read_timeout = timeout
    # (set on each send: a logging configuration applied later may have turned it back on)
    logging.getLogger("apprise").propagate = False
    with apprise.LogCapture(level=logging.WARNING) as captured:
        ok = plugin.notify(body=body, title=title)
        logged = captured.getvalue()
    if ok:
        return ""
    lines = [line.split(" - ", 2)[-1] for line in logged.splitlines() if line.strip()]
    return "; ".join(lines[-3:]) or "the service did not accept the message"
