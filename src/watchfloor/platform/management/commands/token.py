"""`watchfloor token create|list|revoke`: API tokens that act as a user.

The plain token is printed once, alone on the last line of stdout, so scripts can take it with
`tail -n 1`; only its SHA-256 is stored.
"""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from watchfloor.access.models import ApiToken
from watchfloor.access.services import create_api_token, revoke_api_token
from watchfloor.platform.management.common import secret_status
from watchfloor.tenancy.models import User


class Command(BaseCommand):
    help = "Create, list or revoke API tokens (Authorization: Bearer <token>)."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        create = actions.add_parser("create", help="issue a token for a user")
        create.add_argument("--user", required=True, help="username the token acts as")
        create.add_argument("--name", default="cli", help="label to recognise it by")
        create.add_argument("--expires-days", type=int, default=None, help="lifetime in days")
        listing = actions.add_parser("list", help="list a user's tokens")
        listing.add_argument("--user", required=True)
        revoke = actions.add_parser("revoke", help="revoke a token by id")
        revoke.add_argument("--id", type=int, required=True, dest="token_id")

    def handle(self, *args, **options):
        getattr(self, f"_{options['action']}")(options)

    def _user(self, username: str) -> User:
        user = User.objects.select_related("tenant").filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        return user

    def _create(self, options) -> None:
        user = self._user(options["user"])
        if not user.is_active:
            raise CommandError(f"User {user.username!r} is inactive.")
        if user.tenant_id is None:
            raise CommandError(
                f"User {user.username!r} belongs to no tenant, and the API serves tenant users "
                "only: set their tenant first (Django admin)."
            )
        days = options["expires_days"]
        if days is not None and days < 1:
            raise CommandError("--expires-days must be at least 1.")
        expires = timezone.now() + timedelta(days=days) if days else None
        issued = create_api_token(user, name=options["name"], expires_at=expires)
        token = issued.obj
        until = f"{expires:%Y-%m-%d %H:%M} UTC" if expires else "never"
        self.stdout.write(
            f"Token {token.id} {token.name!r} for {user.username} (tenant {user.tenant.slug}), "
            f"prefix {token.prefix}, expires {until}."
        )
        self.stdout.write("It is shown only now; store it, then use it as 'Bearer <token>':")
        self.stdout.write(issued.plain)

    def _list(self, options) -> None:
        user = self._user(options["user"])
        now = timezone.now()
        self.stdout.write(f"{'ID':>6}  {'PREFIX':<10}{'STATUS':<9}{'LAST USED':<22}NAME")
        for t in ApiToken.objects.filter(user=user):
            used = t.last_used_at.strftime("%Y-%m-%d %H:%M UTC") if t.last_used_at else "never"
            status = secret_status(t, now)
            self.stdout.write(f"{t.id:>6}  {t.prefix:<10}{status:<9}{used:<22}{t.name}")

    def _revoke(self, options) -> None:
        token = (
            ApiToken.objects.select_related("user__tenant").filter(pk=options["token_id"]).first()
        )
        if token is None:
            raise CommandError(f"No API token with id {options['token_id']}.")
        already = token.revoked_at is not None
        revoke_api_token(token, actor=None)
        state = "was already revoked" if already else "revoked"
        self.stdout.write(f"Token {token.id} ({token.prefix}) of {token.user.username} {state}.")
