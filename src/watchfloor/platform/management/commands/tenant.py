"""`watchfloor tenant create|list`: the first step of a production install.

`tenant create --slug acme --name "Acme Guarding" --admin alice` creates the tenant and an
account with the admin role in it; the account's generated password is printed once, alone on
the last line of stdout.
"""

from __future__ import annotations

import secrets

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from watchfloor.access.services import set_roles
from watchfloor.tenancy.models import Tenant, User
from watchfloor.tenancy.services import create_tenant


class Command(BaseCommand):
    help = "Create or list tenants (an organisation with its own clients, sites and users)."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        create = actions.add_parser("create", help="create a tenant and, optionally, its admin")
        create.add_argument("--slug", required=True, help="short unique name, e.g. acme")
        create.add_argument("--name", required=True, help="display name")
        create.add_argument("--admin", metavar="USERNAME", help="also create this admin account")
        create.add_argument("--email", default="", help="the admin's email")
        actions.add_parser("list", help="list tenants")

    def handle(self, *args, **options):
        getattr(self, f"_{options['action']}")(options)

    @transaction.atomic
    def _create(self, options) -> None:
        username = options["admin"]
        if username and User.objects.filter(username=username).exists():
            raise CommandError(f"A user named {username!r} already exists.")
        try:
            tenant = create_tenant(slug=options["slug"], name=options["name"])
        except ValidationError as exc:
            problems = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
            raise CommandError(f"Cannot create the tenant: {problems}") from None
        self.stdout.write(f"Tenant {tenant.slug!r} ({tenant.name}) created, id {tenant.id}.")
        if not username:
            return
        password = secrets.token_urlsafe(12)
        user = User.objects.create_user(
            username=username, email=options["email"], password=password, tenant=tenant
        )
        set_roles(user, ["admin"])
        self.stdout.write(
            f"Admin {username!r} created with the admin role. The password is shown only now "
            f"(change it with `watchfloor changepassword {username}`):"
        )
        self.stdout.write(password)

    def _list(self, options) -> None:
        self.stdout.write(f"{'ID':>5}  {'SLUG':<20}{'ACTIVE':<8}{'USERS':>6}  NAME")
        for t in Tenant.objects.all():
            active = "yes" if t.active else "no"
            self.stdout.write(f"{t.id:>5}  {t.slug:<20}{active:<8}{t.users.count():>6}  {t.name}")
