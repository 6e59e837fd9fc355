"""Secrets shown once: `wf<kind>_<prefix>_<secret>`; only the SHA-256 is stored.

The secrets carry 256 bits of randomness, so a fast hash is the right tool (a slow password hash
would only slow every request); the prefix lets people and logs name a token without the secret.
"""

from __future__ import annotations

import hashlib
import secrets as _secrets
from dataclasses import dataclass


@dataclass(frozen=True)
class NewSecret:
    plain: str
    prefix: str
    digest: str


def hash_secret(plain: str) -> str:
    return hashlib.sha256(plain.encode()).hexdigest()


def generate_secret(kind: str) -> NewSecret:
    prefix = _secrets.token_hex(4)
    plain = f"wf{kind}_{prefix}_{_secrets.token_urlsafe(32)}"
    return NewSecret(plain=plain, prefix=prefix, digest=hash_secret(plain))
