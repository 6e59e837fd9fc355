"""`watchfloor integration-key create|list|revoke`: keys that let a source ingest for a tenant.

The plain key is printed once, alone on the last line of stdout; only its SHA-256 is stored.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from watchfloor.access.models import IntegrationKey, SourceKind
from watchfloor.access.services import create_integration_key, revoke_integration_key
from watchfloor.platform.management.common import secret_status
from watchfloor.tenancy.models import Client, Site, Tenant


class Command(BaseCommand):
    help = "Create, list or revoke integration keys (ingestion credentials of one tenant)."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        create = actions.add_parser("create", help="issue a key for a tenant and source kind")
        create.add_argument("--tenant", required=True, help="tenant slug")
        create.add_argument(
            "--source", required=True, help=f"one of: {', '.join(SourceKind.values)}"
        )
        create.add_argument("--name", default=None, help="label (default: the source kind)")
        create.add_argument("--client", default=None, help="default client code for events")
        create.add_argument("--site", default=None, help="default site code for events")
        listing = actions.add_parser("list", help="list a tenant's keys")
        listing.add_argument("--tenant", required=True)
        revoke = actions.add_parser("revoke", help="revoke a key by id")
        revoke.add_argument("--id", type=int, required=True, dest="key_id")

    def create_parser(self, prog_name, subcommand, **kwargs):
        # usage and errors name the command as people type it: `watchfloor integration-key`
        return super().create_parser(prog_name, subcommand.replace("_", "-"), **kwargs)

    def handle(self, *args, **options):
        getattr(self, f"_{options['action']}")(options)

    def _tenant(self, slug: str) -> Tenant:
        tenant = Tenant.objects.filter(slug=slug).first()
        if tenant is None:
            raise CommandError(f"No tenant with slug {slug!r}.")
        return tenant

    def _create(self, options) -> None:
        tenant = self._tenant(options["tenant"])
        if options["source"] not in SourceKind.values:
            raise CommandError(
                f"Unknown source {options['source']!r}; use one of: {', '.join(SourceKind.values)}."
            )
        client = site = None
        if options["client"]:
            client = Client.objects.for_tenant(tenant).filter(code=options["client"]).first()
            if client is None:
                raise CommandError(f"No client {options['client']!r} in tenant {tenant.slug}.")
        if options["site"]:
            site = Site.objects.for_tenant(tenant).filter(code=options["site"]).first()
            if site is None:
                raise CommandError(f"No site {options['site']!r} in tenant {tenant.slug}.")
            if client is not None and site.client_id != client.id:
                raise CommandError(f"Site {site.code} does not belong to client {client.code}.")
        issued = create_integration_key(
            tenant,
            actor=None,
            name=options["name"] or options["source"],
            source=options["source"],
            default_client=client,
            default_site=site,
        )
        key = issued.obj
        defaults = ", ".join(
            f"{label} {obj.code}"
            for label, obj in (("client", key.default_client), ("site", key.default_site))
            if obj is not None
        )
        self.stdout.write(
            f"Integration key {key.id} {key.name!r} for tenant {tenant.slug}, source "
            f"{key.source}, prefix {key.prefix}" + (f", defaults: {defaults}" if defaults else "")
        )
        self.stdout.write("It is shown only now; store it in the sending system:")
        self.stdout.write(issued.plain)

    def _list(self, options) -> None:
        tenant = self._tenant(options["tenant"])
        now = timezone.now()
        keys = IntegrationKey.objects.for_tenant(tenant).select_related(
            "default_client", "default_site"
        )
        self.stdout.write(
            f"{'ID':>6}  {'PREFIX':<10}{'SOURCE':<14}{'STATUS':<9}{'DEFAULTS':<24}{'LAST USED':<22}"
            "NAME"
        )
        for k in keys:
            defaults = "/".join(o.code for o in (k.default_client, k.default_site) if o) or "-"
            used = k.last_used_at.strftime("%Y-%m-%d %H:%M UTC") if k.last_used_at else "never"
            self.stdout.write(
                f"{k.id:>6}  {k.prefix:<10}{k.source:<14}{secret_status(k, now):<9}{defaults:<24}"
                f"{used:<22}{k.name}"
            )

    def _revoke(self, options) -> None:
        key = IntegrationKey.objects.select_related("tenant").filter(pk=options["key_id"]).first()
        if key is None:
            raise CommandError(f"No integration key with id {options['key_id']}.")
        already = key.revoked_at is not None
        revoke_integration_key(key, actor=None)
        state = "was already revoked" if already else "revoked"
        self.stdout.write(f"Integration key {key.id} ({key.prefix}) of {key.tenant.slug} {state}.")
