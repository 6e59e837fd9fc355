"""`watchfloor demo`: a home folder, a migrated database, the demo estate, and a server."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from watchfloor.alerts.staging import start_for_server as start_fold_for_server
from watchfloor.demo import data as demo_data
from watchfloor.demo import paging as demo_paging
from watchfloor.demo import simulator as demo_simulator
from watchfloor.demo import sinks as demo_sinks
from watchfloor.demo.alerts import load_demo_alerts
from watchfloor.jobs.embedded import start_for_server
from watchfloor.platform.database import describe_database, pending_migrations
from watchfloor.platform.server import run_uvicorn
from watchfloor.tenancy.models import Tenant

# where the demo's webhooks point until the sinks listen (port 9: discard)
UNSET_HOOK = "json://127.0.0.1:9"


class Command(BaseCommand):
    help = (
        "Run Watchfloor on this machine with demo data: create the home folder, migrate, load "
        "the demo estate once (printing the sign-in passwords), then serve on 127.0.0.1:8000 "
        "with simulated alert traffic."
    )
    requires_system_checks = []  # migrate runs the checks

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="address to serve on")
        parser.add_argument("--port", type=int, default=8000, help="port to serve on")
        parser.add_argument(
            "--no-serve", action="store_true", help="prepare everything, then exit (for scripts)"
        )
        parser.add_argument(
            "--no-simulate",
            action="store_true",
            help="serve without the simulator that sends live alert traffic through the API",
        )
        parser.add_argument(
            "--seed",
            type=int,
            default=demo_data.DEFAULT_SEED,
            help="random seed of the demo estate (the same seed gives the same data)",
        )

    def handle(self, *args, **options):
        self.port = options["port"]
        home = settings.WATCHFLOOR_HOME
        home.mkdir(parents=True, exist_ok=True)
        self.stdout.write(self.style.MIGRATE_HEADING("Watchfloor demo"))
        self.stdout.write(f"  home      {home}")
        self.stdout.write(f"  database  {describe_database()}")
        if settings.DEMO:
            self.stdout.write("  mode      demo: plain http, cookies not marked Secure")
        self._migrate()
        if demo_data.demo_loaded():
            self._already_loaded()
        else:
            self._load(options["seed"])
        self._paging()
        if options["no_serve"]:
            return
        self._serve(options["host"], options["port"], simulate=not options["no_simulate"])

    def _migrate(self) -> None:
        started = time.perf_counter()
        pending = pending_migrations()
        if not pending:
            self.stdout.write("Database schema is up to date.")
            return
        self.stdout.write(f"Applying {len(pending)} migrations ...", ending="")
        self.stdout.flush()
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write(f" done ({time.perf_counter() - started:.1f}s)")

    def _load(self, seed: int) -> None:
        self.stdout.write(f"Loading the demo estate (seed {seed}):")
        started = time.perf_counter()
        tty = self.stdout.isatty()

        def progress(stage: str, done: int, total: int) -> None:
            line = f"  {stage:<12} {done:>4}/{total:<4} {time.perf_counter() - started:6.2f}s"
            if tty:
                self.stdout.write("\r" + line, ending="\n" if done == total else "")
                self.stdout.flush()
            elif done == total:
                self.stdout.write(line)

        try:
            result = demo_data.load_demo(seed=seed, progress=progress)
        except demo_data.DemoConflictError as exc:
            raise CommandError(f"Cannot load the demo estate: {exc}.") from None
        if result is None:  # another process loaded it meanwhile
            self._already_loaded()
            return
        c = result.counts
        self.stdout.write(
            self.style.SUCCESS(
                f"Loaded {c['clients']} clients, {c['sites']} sites in {c['cities']} cities and "
                f"{c['users']} people in {result.seconds:.2f}s."
            )
        )
        self.stdout.write("")
        self.stdout.write(
            self.style.MIGRATE_HEADING("Sign-in accounts")
            + " (passwords are shown only now; set a new one with "
            "`watchfloor changepassword NAME`):"
        )
        self.stdout.write(f"  {'USERNAME':<12}{'ROLE':<12}{'PASSWORD':<20}SCOPE")
        for account in result.accounts:
            self.stdout.write(
                f"  {account.username:<12}{account.role:<12}{account.password:<20}{account.scope}"
            )
        self.stdout.write("")
        self._load_alerts(result.tenant, seed)

    def _load_alerts(self, tenant, seed: int) -> None:
        started = time.perf_counter()
        keys, counts = load_demo_alerts(tenant, seed=seed)
        self.stdout.write(
            self.style.SUCCESS(
                f"Sent {counts['alerts']} demo alerts through the ingestion pipeline "
                f"({counts['open']} open, {counts['suppressed']} suppressed by a maintenance "
                f"window) in {time.perf_counter() - started:.2f}s; {counts['incidents']} "
                f"incidents, {counts['acknowledged']} being worked on."
            )
        )
        self.stdout.write(
            self.style.MIGRATE_HEADING("Integration keys")
            + " (shown only now; revoke with `watchfloor integration-key revoke`):"
        )
        self.stdout.write(f"  native        {keys.native}")
        self.stdout.write(f"  alertmanager  {keys.alertmanager}")
        self.stdout.write(f"  pagerduty     {keys.pagerduty}")
        self.stdout.write(f"  operations    {keys.operations}  (POST /api/v1/operations/…)")
        self.stdout.write(f"  Try: curl -X POST http://127.0.0.1:{self.port}/api/v1/alerts \\")
        self.stdout.write(f"         -H 'Authorization: Bearer {keys.native}' \\")
        self.stdout.write(
            '         -H \'Content-Type: application/json\' -d \'{"type": "DEVICE_OFFLINE", '
            f'"severity": "HIGH", "site": "{keys.example_site}", '
            '"title": "Camera 3 offline"}\''
        )
        self.stdout.write("")

    def _paging(self) -> None:
        """The demo's on-call schedule, contacts, channel and short-delay policy, once."""
        tenant = Tenant.objects.get(slug=demo_data.TENANT_SLUG)
        if demo_paging.paging_loaded(tenant):
            return
        # the sinks' ports are only known once they listen: _serve points the rows at them
        counts = demo_paging.load_demo_paging(
            tenant, webhook_url=UNSET_HOOK + "/noc", personal_webhook_url=UNSET_HOOK + "/admin"
        )
        if counts["schedule"] is None:
            self.stdout.write("Paging not set up: the demo tenant has no admin.")
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"Paging: schedule {demo_paging.SCHEDULE_NAME!r} (operator, supervisor, admin; "
                f"the admin covers the first hours), {counts['contacts']} people reachable by "
                "email, a team channel, and a default policy that pages after 2 minutes."
            )
        )

    def _start_sinks(self, host: str, port: int):
        """The local SMTP server and webhook receiver every demo notification goes to."""
        sinks = demo_sinks.Sinks(settings.WATCHFLOOR_HOME / "demo-sinks").start()
        settings.SMTP_URL = sinks.smtp_url
        settings.PUBLIC_URL = f"http://{host}:{port}"
        tenant = Tenant.objects.get(slug=demo_data.TENANT_SLUG)
        demo_paging.point_at_sinks(
            tenant,
            webhook_url=sinks.webhook_url("/noc"),
            personal_webhook_url=sinks.webhook_url("/admin"),
        )
        self.stdout.write(
            f"Notifications go to local sinks: SMTP {sinks.smtp_url}, webhooks "
            f"{sinks.webhook_url('/')}; read them on http://{host}:{port}/deliveries/."
        )
        return sinks

    def _already_loaded(self) -> None:
        self.stdout.write(
            f"The demo data is already there (tenant `{demo_data.TENANT_SLUG}`); passwords were "
            "shown when it was created."
        )
        self.stdout.write(
            "  Forgot one? Set a new password with `watchfloor changepassword NAME` "
            f"(accounts: {', '.join(demo_data.LOGIN_ROLES)})."
        )

    def _serve(self, host: str, port: int, *, simulate: bool) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            self.stderr.write(
                self.style.WARNING(
                    "Demo mode serves plain http with cookies not marked Secure: keep it on "
                    "loopback, and add the host to WATCHFLOOR_ALLOWED_HOSTS."
                )
            )
        shown = f"[{host}]" if ":" in host else host
        simulator = None
        if simulate:
            simulator = demo_simulator.start(
                host=host, port=port, tenant_slug=demo_data.TENANT_SLUG
            )
        if simulator is not None:
            self.stdout.write(
                "Simulating live alert traffic through the ingestion API (a new alert every few "
                "seconds, storms, resolves, a maintenance window); --no-simulate turns it off."
            )
        sinks = self._start_sinks(shown, port)
        self.stdout.write(f"Serving on http://{shown}:{port}/ - press Ctrl-C to stop.")
        self.stdout.flush()
        scheduler = start_for_server(forking=False)  # escalations, notifications, windows
        if scheduler is None:
            self.stdout.write(
                "REDIS_URL is set: escalations and notifications run in Celery; start "
                "`watchfloor worker` and `watchfloor beat` beside the demo."
            )
        fold = start_fold_for_server(forking=False)  # folds what the ingestion API staged
        try:
            run_uvicorn(host=host, port=port)
        finally:
            if fold is not None:
                fold.stop()
            if scheduler is not None:
                scheduler.stop()
            if simulator is not None:
                simulator.stop()
            sinks.stop()
        self.stdout.write("Stopped.")
