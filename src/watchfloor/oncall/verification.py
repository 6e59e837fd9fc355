"""Proving an address works before anything is sent to it: a 6-digit code goes to the address,
the person who reads it gives it back. Shared by people's contact methods
(`contact_services`) and clients' contacts (`incidents.contacts`), whose rows carry the same four
fields: `verification_hash` (an HMAC of the code, never the code), `verification_sent_at`,
`verification_attempts` and `verified_at`.

A code lives `VERIFY_MINUTES`, `VERIFY_MAX_ATTEMPTS` wrong codes need a new one, and a new one
is sent at most every `RESEND_SECONDS`. The callers lock the row (select_for_update) and audit.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError

VERIFY_MINUTES = 15
VERIFY_MAX_ATTEMPTS = 5
RESEND_SECONDS = 60

FIELDS = ["verification_hash", "verification_sent_at", "verification_attempts"]


class TooSoon(Exception):
    """A new code was asked for too soon after the last one (the API answers 429)."""

    def __init__(self, wait_seconds: int):
        super().__init__(f"A code was sent moments ago: ask again in {wait_seconds} s.")
        self.wait_seconds = wait_seconds


def code_hash(*parts: object) -> str:
    """The HMAC (keyed by SECRET_KEY) of what identifies the code: purpose, row, code…"""
    text = ":".join(str(p) for p in parts).encode()
    return hmac.new(settings.SECRET_KEY.encode(), text, hashlib.sha256).hexdigest()


def clean_code(code) -> str:
    if not isinstance(code, str) or not code.strip().isdigit() or len(code.strip()) != 6:
        raise ValidationError({"code": "The code is 6 digits."})
    return code.strip()


def issue_code(row, *, hash_of: Callable[[str], str], now: datetime) -> str:
    """A new code for the locked `row` (its hash stored, tries reset, saved); `TooSoon`
    within RESEND_SECONDS of the last one."""
    if row.verification_sent_at is not None:
        wait = row.verification_sent_at + timedelta(seconds=RESEND_SECONDS) - now
        if wait > timedelta(0):
            raise TooSoon(int(wait.total_seconds()) + 1)
    code = f"{secrets.randbelow(1_000_000):06d}"
    row.verification_hash = hash_of(code)
    row.verification_sent_at = now
    row.verification_attempts = 0
    row.save(update_fields=FIELDS)
    return code


def try_code(row, code: str, *, hash_of: Callable[[str], str], now: datetime) -> bool:
    """Check a cleaned code against the locked, unverified `row`: True, and the row is saved
    verified; False, and the wrong try is counted (saved). A code that cannot be checked (none
    asked for, expired, too many tries) is a `ValidationError` on `code`."""
    if not row.verification_hash or row.verification_sent_at is None:
        raise ValidationError({"code": "Ask for a code first."})
    if now - row.verification_sent_at > timedelta(minutes=VERIFY_MINUTES):
        raise ValidationError({"code": "This code has expired: ask for a new one."})
    if row.verification_attempts >= VERIFY_MAX_ATTEMPTS:
        raise ValidationError({"code": "Too many wrong codes: ask for a new one."})
    if hmac.compare_digest(row.verification_hash, hash_of(code)):
        row.verified_at = now
        row.verification_hash = ""
        row.verification_attempts = 0
        row.save(update_fields=["verified_at", "verification_hash", "verification_attempts"])
        return True
    row.verification_attempts += 1
    row.save(update_fields=["verification_attempts"])
    return False


def wrong_code(row) -> ValidationError:
    """What a wrong code is told, with the tries left (raise it after the transaction that
    counted the try has committed)."""
    left = VERIFY_MAX_ATTEMPTS - row.verification_attempts
    more = f" {left} more {'try' if left == 1 else 'tries'}." if left else " Ask for a new code."
    return ValidationError({"code": "That is not the code." + more})


def unverify(row) -> list[str]:
    """Forget a verification (the address changed); the fields to save."""
    row.verified_at = None
    row.verification_hash = ""
    row.verification_sent_at = None
    row.verification_attempts = 0
    return ["verified_at", *FIELDS]
