"""The demo estate: a security-services company with 20 clients and 200 sites in 40 US cities.

Two steps, so that reproducibility can be checked without a database:

- `build_plan(seed)` is pure: the same seed always gives the same clients, sites, coordinates and
  people (fictional names, `@demo-security.example.com` emails, 555-01xx phone numbers).
- `load_demo(seed=...)` writes a plan in one transaction with bulk inserts and returns the login
  accounts it created with their passwords. Passwords come from `secrets`, are hashed before they
  are stored, and exist in plain only in the returned value (the demo command prints them once).

Coordinates are real city centres jittered by up to 6 km; time zones are the IANA zones of the
cities. Officers in charge and client owners cannot log in (unusable passwords) until an admin sets
a password (`watchfloor changepassword NAME`).
"""

from __future__ import annotations

import math
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.db import transaction

from watchfloor.access.models import ClientAssignment, SiteAssignment
from watchfloor.audit.models import Action
from watchfloor.audit.services import record
from watchfloor.tenancy.models import Client, Site, Tenant, User

DEFAULT_SEED = 42
TENANT_SLUG = "demo"
TENANT_NAME = "Demo Security Services"
EMAIL_DOMAIN = "demo-security.example.com"
SITE_TOTAL = 200
JITTER_KM = 6.0
LOGIN_ROLES = ("admin", "supervisor", "executive", "operator", "viewer")
OPERATOR_CLIENTS = 3
VIEWER_SITES = 10
SITES_PER_OFFICER = 5
ACCOUNT_MANAGERS = 10
REGIONAL_HUBS = ("DAL", "CHI", "ATL", "NYC", "LAX")


@dataclass(frozen=True)
class City:
    name: str
    state: str
    latitude: float
    longitude: float
    timezone: str
    code: str  # the city's IATA airport or metro code, used in site codes
    area_code: str


# fmt: off
CITIES: tuple[City, ...] = (
    City("New York", "NY", 40.7128, -74.0060, "America/New_York", "NYC", "212"),
    City("Los Angeles", "CA", 34.0522, -118.2437, "America/Los_Angeles", "LAX", "213"),
    City("Chicago", "IL", 41.8781, -87.6298, "America/Chicago", "CHI", "312"),
    City("Houston", "TX", 29.7604, -95.3698, "America/Chicago", "HOU", "713"),
    City("Phoenix", "AZ", 33.4484, -112.0740, "America/Phoenix", "PHX", "602"),
    City("Philadelphia", "PA", 39.9526, -75.1652, "America/New_York", "PHL", "215"),
    City("San Antonio", "TX", 29.4241, -98.4936, "America/Chicago", "SAT", "210"),
    City("San Diego", "CA", 32.7157, -117.1611, "America/Los_Angeles", "SAN", "619"),
    City("Dallas", "TX", 32.7767, -96.7970, "America/Chicago", "DAL", "214"),
    City("San Jose", "CA", 37.3382, -121.8863, "America/Los_Angeles", "SJC", "408"),
    City("Austin", "TX", 30.2672, -97.7431, "America/Chicago", "AUS", "512"),
    City("Jacksonville", "FL", 30.3322, -81.6557, "America/New_York", "JAX", "904"),
    City("Columbus", "OH", 39.9612, -82.9988, "America/New_York", "CMH", "614"),
    City("Charlotte", "NC", 35.2271, -80.8431, "America/New_York", "CLT", "704"),
    City("Indianapolis", "IN", 39.7684, -86.1581, "America/Indiana/Indianapolis", "IND", "317"),
    City("San Francisco", "CA", 37.7749, -122.4194, "America/Los_Angeles", "SFO", "415"),
    City("Seattle", "WA", 47.6062, -122.3321, "America/Los_Angeles", "SEA", "206"),
    City("Denver", "CO", 39.7392, -104.9903, "America/Denver", "DEN", "303"),
    City("Washington", "DC", 38.9072, -77.0369, "America/New_York", "DCA", "202"),
    City("Boston", "MA", 42.3601, -71.0589, "America/New_York", "BOS", "617"),
    City("Nashville", "TN", 36.1627, -86.7816, "America/Chicago", "BNA", "615"),
    City("Detroit", "MI", 42.3314, -83.0458, "America/Detroit", "DTW", "313"),
    City("Portland", "OR", 45.5152, -122.6784, "America/Los_Angeles", "PDX", "503"),
    City("Las Vegas", "NV", 36.1699, -115.1398, "America/Los_Angeles", "LAS", "702"),
    City("Louisville", "KY", 38.2527, -85.7585, "America/Kentucky/Louisville", "SDF", "502"),
    City("Baltimore", "MD", 39.2904, -76.6122, "America/New_York", "BWI", "410"),
    City("Milwaukee", "WI", 43.0389, -87.9065, "America/Chicago", "MKE", "414"),
    City("Albuquerque", "NM", 35.0844, -106.6504, "America/Denver", "ABQ", "505"),
    City("Tucson", "AZ", 32.2226, -110.9747, "America/Phoenix", "TUS", "520"),
    City("Sacramento", "CA", 38.5816, -121.4944, "America/Los_Angeles", "SMF", "916"),
    City("Kansas City", "MO", 39.0997, -94.5786, "America/Chicago", "MCI", "816"),
    City("Atlanta", "GA", 33.7490, -84.3880, "America/New_York", "ATL", "404"),
    City("Miami", "FL", 25.7617, -80.1918, "America/New_York", "MIA", "305"),
    City("Minneapolis", "MN", 44.9778, -93.2650, "America/Chicago", "MSP", "612"),
    City("New Orleans", "LA", 29.9511, -90.0715, "America/Chicago", "MSY", "504"),
    City("Salt Lake City", "UT", 40.7608, -111.8910, "America/Denver", "SLC", "801"),
    City("Boise", "ID", 43.6150, -116.2023, "America/Boise", "BOI", "208"),
    City("Anchorage", "AK", 61.2181, -149.9003, "America/Anchorage", "ANC", "907"),
    City("Honolulu", "HI", 21.3069, -157.8583, "Pacific/Honolulu", "HNL", "808"),
    City("Pittsburgh", "PA", 40.4406, -79.9959, "America/New_York", "PIT", "412"),
)

SITE_KINDS: dict[str, tuple[str, ...]] = {
    "logistics": ("Distribution Center", "Fulfillment Center", "Cross-Dock", "Truck Yard"),
    "food": ("Distribution Center", "Processing Plant", "Cold Chain Hub"),
    "health": ("Medical Center", "Outpatient Clinic", "Surgery Center", "Medical Office Building"),
    "office": ("Office Tower", "Corporate Campus", "Business Park", "Plaza"),
    "retail": ("Shopping Center", "Superstore", "Outlet Mall", "Marketplace"),
    "hospitality": ("Hotel", "Resort", "Conference Center", "Suites"),
    "datacenter": ("Data Center", "Colocation Facility", "Network Hub"),
    "pharma": ("Research Campus", "Manufacturing Plant", "Laboratory"),
    "manufacturing": ("Assembly Plant", "Manufacturing Plant", "Machine Shop", "Foundry"),
    "energy": ("Substation", "Fuel Terminal", "Operations Yard", "Solar Farm"),
    "campus": ("Campus", "Residence Hall", "Research Park", "Athletics Complex"),
    "transit": ("Transit Center", "Bus Depot", "Rail Yard", "Station"),
    "construction": ("Construction Site", "Equipment Yard", "Project Office"),
    "finance": ("Financial Center", "Branch", "Operations Center"),
    "agriculture": ("Grain Elevator", "Feed Mill", "Processing Plant"),
    "parking": ("Parking Garage", "Park & Ride", "Parking Plaza"),
    "port": ("Container Terminal", "Marine Terminal", "Cargo Yard"),
    "aerospace": ("Hangar Complex", "Assembly Plant", "Test Facility"),
}

CLIENTS: tuple[tuple[str, str, str], ...] = (
    ("ACME", "Acme Logistics", "logistics"),
    ("NWND", "Northwind Foods", "food"),
    ("HRBR", "Harborview Health", "health"),
    ("SUMT", "Summit Property Group", "office"),
    ("KYST", "Keystone Retail Partners", "retail"),
    ("BLWT", "Bluewater Hotels & Resorts", "hospitality"),
    ("PNCL", "Pinnacle Data Centers", "datacenter"),
    ("RDWD", "Redwood Pharmaceuticals", "pharma"),
    ("GLMF", "Great Lakes Manufacturing", "manufacturing"),
    ("LNST", "Lone Star Energy", "energy"),
    ("EVGR", "Evergreen State University", "campus"),
    ("MTRO", "Metro Transit Authority", "transit"),
    ("CSCD", "Cascade Cold Storage", "logistics"),
    ("IRBR", "Ironbridge Construction", "construction"),
    ("SLVR", "Silverline Financial", "finance"),
    ("PRGC", "Prairie Grain Cooperative", "agriculture"),
    ("ATLS", "Atlas Parking Systems", "parking"),
    ("CSTL", "Coastal Port Terminals", "port"),
    ("ORIN", "Orion Aerospace", "aerospace"),
    ("BCON", "Beacon Health Network", "health"),
)

PLACE_WORDS = (
    "Riverside", "Northgate", "Lakeshore", "Westfield", "Eastport", "Hillcrest", "Oak Park",
    "Pine Ridge", "Harbor Point", "Cedar Creek", "Stonebridge", "Meadowbrook", "Fairview",
    "Sunset", "Gateway", "Parkside", "Union Square", "Mill Creek", "Highland", "Bayfront",
    "Canyon View", "Maple Grove", "Willow Bend", "Ironwood", "Crossroads", "Southpoint",
    "Brookhaven", "Summit Ridge", "Lakeview", "Foxborough", "Greenway", "Redstone",
    "Silver Lake", "Clearwater", "Kingsbridge", "Airport", "Midtown", "Old Town", "Heritage",
    "Prospect Hill",
)

FIRST_NAMES = (
    "James", "Maria", "Robert", "Aisha", "Michael", "Linda", "David", "Sofia", "William",
    "Priya", "Daniel", "Grace", "Carlos", "Emily", "Marcus", "Hannah", "Kevin", "Olivia",
    "Jamal", "Rachel", "Luis", "Megan", "Anthony", "Fatima", "Brian", "Chloe", "Tyrone",
    "Natalie", "Andre", "Julia", "Hector", "Lauren", "Derek", "Mei", "Samuel", "Rosa",
    "Patrick", "Keisha", "Victor", "Tamara", "Omar", "Vanessa", "Ethan", "Yolanda", "Jorge",
    "Danielle", "Raymond", "Ingrid", "Terrence", "Camila",
)

LAST_NAMES = (
    "Johnson", "Martinez", "Nguyen", "Williams", "Okafor", "Brown", "Garcia", "Patel", "Davis",
    "Rodriguez", "Kim", "Wilson", "Anderson", "Thompson", "Hernandez", "Moore", "Jackson",
    "Lee", "Walker", "Lopez", "Harris", "Clark", "Lewis", "Robinson", "Young", "Allen",
    "Sanchez", "Wright", "King", "Scott", "Torres", "Hill", "Flores", "Green", "Adams",
    "Nelson", "Baker", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Gomez",
    "Phillips", "Evans", "Turner", "Diaz", "Parker", "Cruz", "Edwards", "Collins", "Reyes",
    "Stewart", "Morris", "Murphy", "Cook", "Rogers", "Morgan", "Peterson", "Cooper", "Reed",
    "Bailey", "Bell", "Kelly", "Howard", "Ward", "Cox", "Richardson", "Wood", "Watson",
    "Brooks", "Bennett", "Gray", "Ramirez", "Hughes", "Price", "Sanders", "Myers", "Long",
    "Ross",
)
# fmt: on


@dataclass(frozen=True)
class PersonPlan:
    username: str
    first_name: str
    last_name: str
    email: str
    phone: str
    role: str
    can_login: bool = False
    clients: tuple[str, ...] = ()  # codes of the clients assigned to them
    sites: tuple[str, ...] = ()  # codes of the sites assigned to them


@dataclass(frozen=True)
class ClientPlan:
    code: str
    name: str
    owner: str  # username


@dataclass(frozen=True)
class SitePlan:
    code: str
    name: str
    client: str  # client code
    city: str
    state: str
    latitude: float
    longitude: float
    timezone: str
    officer: str  # username


@dataclass(frozen=True)
class DemoPlan:
    seed: int
    people: tuple[PersonPlan, ...]
    clients: tuple[ClientPlan, ...]
    sites: tuple[SitePlan, ...]


class _People:
    """Unique fictional people: names from the lists, 555-01xx phones in their city's area code."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.names: set[tuple[str, str]] = set()
        self.phones: set[str] = set()

    def make(self, role: str, area_code: str, **extra) -> PersonPlan:
        first, last = self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)
        while (first, last) in self.names:
            first, last = self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)
        self.names.add((first, last))
        phone = f"+1-{area_code}-555-01{self.rng.randrange(100):02d}"
        while phone in self.phones:
            phone = f"+1-{area_code}-555-01{self.rng.randrange(100):02d}"
        self.phones.add(phone)
        username = extra.pop("username", f"{first}.{last}".lower())
        return PersonPlan(
            username=username,
            first_name=first,
            last_name=last,
            email=f"{username}@{EMAIL_DOMAIN}",
            phone=phone,
            role=role,
            **extra,
        )


def _site_counts(rng: random.Random, clients: int, total: int) -> list[int]:
    """Split `total` sites over the clients: uneven, 4 to 20 each, summing exactly to total."""
    counts = [total // clients] * clients
    counts[0] += total - sum(counts)
    for _ in range(clients * 4):
        giver, taker = rng.randrange(clients), rng.randrange(clients)
        if counts[giver] > 4 and counts[taker] < 20:
            counts[giver] -= 1
            counts[taker] += 1
    return counts


def _jitter(rng: random.Random, city: City) -> tuple[float, float]:
    distance = JITTER_KM * math.sqrt(rng.random())  # uniform over the disc
    bearing = rng.uniform(0, 2 * math.pi)
    lat = city.latitude + distance * math.cos(bearing) / 111.0
    lon = city.longitude + distance * math.sin(bearing) / (
        111.32 * math.cos(math.radians(city.latitude))
    )
    return round(lat, 5), round(lon, 5)


def _km(a: City, b: City) -> float:
    """Great-circle distance between two city centres."""
    la1, lo1, la2, lo2 = map(math.radians, (a.latitude, a.longitude, b.latitude, b.longitude))
    h = (
        math.sin((la2 - la1) / 2) ** 2
        + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    )
    return 6371.0 * 2 * math.asin(math.sqrt(h))


def build_plan(seed: int = DEFAULT_SEED) -> DemoPlan:
    """The whole demo estate as plain data; the same seed gives the same plan."""
    rng = random.Random(seed)
    people = _People(rng)
    counts = _site_counts(rng, len(CLIENTS), SITE_TOTAL)
    order = list(CITIES)
    rng.shuffle(order)

    sites: list[tuple[str, str, str, City]] = []  # (code, name, client code, city)
    for index, ((code, _name, kind), count) in enumerate(zip(CLIENTS, counts, strict=True)):
        # every client starts with two cities of its own, so all 40 cities get sites
        own = order[2 * index : 2 * index + 2]
        others = [c for c in CITIES if c not in own]
        footprint = own + rng.sample(others, rng.randint(1, 6))
        used_names: set[str] = set()
        per_city: dict[str, int] = {}
        for j in range(count):
            city = footprint[j] if j < len(footprint) else rng.choice(footprint)
            name = f"{rng.choice(PLACE_WORDS)} {rng.choice(SITE_KINDS[kind])}"
            while name in used_names:
                name = f"{rng.choice(PLACE_WORDS)} {rng.choice(SITE_KINDS[kind])}"
            used_names.add(name)
            per_city[city.code] = per_city.get(city.code, 0) + 1
            sites.append((f"{code}-{city.code}-{per_city[city.code]:02d}", name, code, city))

    # officers in charge: about one per five sites of a city, each looks after sites there
    by_city: dict[City, list[int]] = {}
    for i, (_code, _name, _client, city) in enumerate(sites):
        by_city.setdefault(city, []).append(i)
    officer_of: dict[int, str] = {}
    officers: list[PersonPlan] = []
    for city in CITIES:
        indices = by_city.get(city, [])
        crew = [
            people.make("viewer", city.area_code)
            for _ in range(math.ceil(len(indices) / SITES_PER_OFFICER))
        ]
        for i in indices:
            officer_of[i] = rng.choice(crew).username
        officers += [
            replace(o, sites=tuple(sites[i][0] for i in indices if officer_of[i] == o.username))
            for o in crew
        ]

    managers = [
        people.make("operator", rng.choice(CITIES).area_code) for _ in range(ACCOUNT_MANAGERS)
    ]
    clients = tuple(
        ClientPlan(code=code, name=name, owner=managers[i % len(managers)].username)
        for i, (code, name, _kind) in enumerate(CLIENTS)
    )
    managers = [
        replace(m, clients=tuple(c.code for c in clients if c.owner == m.username))
        for m in managers
    ]

    client_codes = [c.code for c in clients]
    # the viewer is a patrol supervisor: the sites nearest to one regional hub
    hub = rng.choice([c for c in CITIES if c.code in REGIONAL_HUBS])
    nearest = sorted(sites, key=lambda s: (_km(s[3], hub), s[0]))[:VIEWER_SITES]
    logins = [
        people.make("admin", "212", username="admin", can_login=True),
        people.make("supervisor", "312", username="supervisor", can_login=True),
        people.make("executive", "617", username="executive", can_login=True),
        people.make(
            "operator",
            "214",
            username="operator",
            can_login=True,
            clients=tuple(sorted(rng.sample(client_codes, OPERATOR_CLIENTS))),
        ),
        people.make(
            "viewer",
            hub.area_code,
            username="viewer",
            can_login=True,
            sites=tuple(sorted(s[0] for s in nearest)),
        ),
    ]

    site_plans = []
    for i, (code, name, client, city) in enumerate(sites):
        lat, lon = _jitter(rng, city)
        site_plans.append(
            SitePlan(
                code=code,
                name=name,
                client=client,
                city=city.name,
                state=city.state,
                latitude=lat,
                longitude=lon,
                timezone=city.timezone,
                officer=officer_of[i],
            )
        )
    return DemoPlan(
        seed=seed,
        people=(*logins, *managers, *officers),
        clients=clients,
        sites=tuple(site_plans),
    )


# --- loading ------------------------------------------------------------------------------------

Progress = Callable[[str, int, int], None]


class DemoConflictError(Exception):
    """The database already holds rows the demo would create (usernames are global)."""


@dataclass(frozen=True)
class Account:
    """A login account created by the demo, with its one-time plain password."""

    username: str
    role: str
    password: str = field(repr=False)
    scope: str


@dataclass(frozen=True)
class LoadResult:
    tenant: Tenant
    accounts: tuple[Account, ...]
    counts: dict[str, int]
    seconds: float


def demo_loaded() -> bool:
    return Tenant.objects.filter(slug=TENANT_SLUG).exists()


def _scope_text(person: PersonPlan) -> str:
    if person.role == "admin":
        return "all clients; configuration (a tenant admin, not a platform operator)"
    if person.role in ("supervisor", "executive"):
        return "all clients"
    if person.clients:
        return f"{len(person.clients)} clients: {', '.join(person.clients)}"
    return f"{len(person.sites)} sites"


def load_demo(*, seed: int = DEFAULT_SEED, progress: Progress | None = None) -> LoadResult | None:
    """Create the demo tenant from `build_plan(seed)`; None when it already exists."""
    started = time.perf_counter()
    report = progress or (lambda stage, done, total: None)
    if demo_loaded():
        return None
    plan = build_plan(seed)
    passwords = {p.username: secrets.token_urlsafe(12) for p in plan.people if p.can_login}
    # the slow part of the load (~0.2 s per password with Django's PBKDF2; threads measured
    # no faster), done before the transaction so the write lock is held only for the inserts
    hashed = {username: make_password(password) for username, password in passwords.items()}
    report("passwords", len(hashed), len(passwords))
    with transaction.atomic():
        if demo_loaded():
            return None
        taken = sorted(
            User.objects.filter(username__in=[p.username for p in plan.people]).values_list(
                "username", flat=True
            )
        )
        if taken:
            raise DemoConflictError(f"these usernames already exist: {', '.join(taken[:10])}")
        tenant = Tenant.objects.create(slug=TENANT_SLUG, name=TENANT_NAME)
        users = _create_people(tenant, plan, hashed, report)
        clients = _create_clients(tenant, plan, users, report)
        sites = _create_sites(tenant, plan, clients, users, report)
        assignments = _create_assignments(tenant, plan, users, clients, sites, report)
        counts = {
            "clients": len(clients),
            "sites": len(sites),
            "users": len(users),
            "cities": len({(s.city, s.state) for s in plan.sites}),
            "assignments": assignments,
        }
        record(
            Action.CONFIG_CHANGE,
            tenant=tenant,
            entity=tenant,
            details={"change": "demo.load", "seed": seed, **counts},
        )
    accounts = tuple(
        Account(p.username, p.role, passwords[p.username], _scope_text(p))
        for p in plan.people
        if p.can_login
    )
    return LoadResult(tenant, accounts, counts, time.perf_counter() - started)


def _create_people(tenant, plan: DemoPlan, hashed: dict[str, str], report) -> dict[str, User]:
    total = len(plan.people)
    users = User.objects.bulk_create(
        User(
            tenant=tenant,
            username=p.username,
            first_name=p.first_name,
            last_name=p.last_name,
            email=p.email,
            phone=p.phone,
            password=hashed.get(p.username) or make_password(None),
        )
        for p in plan.people
    )
    groups = {g.name: g for g in Group.objects.filter(name__in={p.role for p in plan.people})}
    User.groups.through.objects.bulk_create(
        User.groups.through(user_id=u.pk, group_id=groups[p.role].pk)
        for u, p in zip(users, plan.people, strict=True)
    )
    report("people", total, total)
    return {u.username: u for u in users}


def _create_clients(tenant, plan: DemoPlan, users, report) -> dict[str, Client]:
    total = len(plan.clients)
    created = Client.objects.bulk_create(
        Client(tenant=tenant, code=c.code, name=c.name, owner=users[c.owner]) for c in plan.clients
    )
    report("clients", total, total)
    return {c.code: c for c in created}


def _create_sites(tenant, plan: DemoPlan, clients, users, report, batch: int = 50):
    total = len(plan.sites)
    created: list[Site] = []
    for start in range(0, total, batch):
        created += Site.objects.bulk_create(
            Site(
                tenant=tenant,
                client=clients[s.client],
                code=s.code,
                name=s.name,
                city=s.city,
                state=s.state,
                latitude=s.latitude,
                longitude=s.longitude,
                timezone=s.timezone,
                officer_in_charge=users[s.officer],
            )
            for s in plan.sites[start : start + batch]
        )
        report("sites", len(created), total)
    return {s.code: s for s in created}


def _create_assignments(tenant, plan: DemoPlan, users, clients, sites, report) -> int:
    client_rows = [
        ClientAssignment(tenant=tenant, user=users[p.username], client=clients[code])
        for p in plan.people
        for code in p.clients
    ]
    site_rows = [
        SiteAssignment(tenant=tenant, user=users[p.username], site=sites[code])
        for p in plan.people
        for code in p.sites
    ]
    ClientAssignment.objects.bulk_create(client_rows)
    SiteAssignment.objects.bulk_create(site_rows)
    total = len(client_rows) + len(site_rows)
    report("assignments", total, total)
    return total
