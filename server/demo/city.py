"""The demo city: a deterministic network on Nairobi's coordinates.

Everything is a pure function of the seed (and, for customers, of their index), so two
runs produce the same city, and `--customers N` can grow an existing city to N customers.
"""
from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

SEED = 2026
# Service area: central Nairobi, roughly Westlands to Embakasi (lon, lat).
WEST, EAST, SOUTH, NORTH = 36.70, 36.95, -1.36, -1.20
SPLIT_LON, SPLIT_LAT = 36.82, -1.28
CBD = (36.8219, -1.2864)

ZONES = {  # name: (west, south, east, north)
    "Westlands": (WEST, SPLIT_LAT, SPLIT_LON, NORTH),
    "Kasarani": (SPLIT_LON, SPLIT_LAT, EAST, NORTH),
    "Lang'ata": (WEST, SOUTH, SPLIT_LON, SPLIT_LAT),
    "Embakasi": (SPLIT_LON, SOUTH, EAST, SPLIT_LAT),
}
# Arterials radiating from the CBD, roughly where the real ones run: name, end point.
ARTERIALS = {
    "Uhuru Highway": (36.815, NORTH), "Thika Road": (EAST, -1.21), "Jogoo Road": (EAST, -1.292),
    "Mombasa Road": (EAST, -1.35), "Lang'ata Road": (36.76, SOUTH), "Ngong Road": (WEST, -1.31),
    "Waiyaki Way": (WEST, -1.245), "Kiambu Road": (36.84, NORTH),
}
FEEDERS_PER_ZONE = 2
TRANSFORMERS_PER_FEEDER = 25
CREWS_PER_ZONE = (3, 3, 2, 2)
FIRST_NAMES = ("Amina", "Brian", "Caroline", "David", "Esther", "Faith", "George", "Hassan", "Irene", "James",
               "Joyce", "Kevin", "Lucy", "Mercy", "Njeri", "Otieno", "Peter", "Rehema", "Samuel", "Wanjiku")
LAST_NAMES = ("Achieng", "Kamau", "Kariuki", "Kipchoge", "Mohamed", "Mutua", "Mwangi", "Njoroge", "Ochieng",
              "Odhiambo", "Omondi", "Onyango", "Otieno", "Wafula", "Wambui", "Wanjiru")
LANGUAGE_WEIGHTS = (("en", 44), ("sw", 44), ("hi", 4), ("vi", 4), ("sq", 4))

DEMO_PASSWORD = "faultline-demo"
DEMO_STAFF = (  # username, display name, role
    ("admin", "Ada Admin", "admin"),
    ("dispatcher", "Daniel Dispatcher", "dispatcher"),
    ("agent", "Alice Agent", "agent"),
    ("supervisor", "Sarah Supervisor", "supervisor"),
    ("lineman", "Luka Lineman", "lineman"),
)


@dataclass(frozen=True)
class Line:
    name: str
    points: tuple[tuple[float, float], ...]

    def ewkt(self) -> str:
        return "SRID=4326;LINESTRING(" + ", ".join(f"{x:.6f} {y:.6f}" for x, y in self.points) + ")"


@dataclass(frozen=True)
class Transformer:
    code: str
    feeder_code: str
    lon: float
    lat: float


@dataclass(frozen=True)
class Customer:
    meter_no: str
    name: str
    phone: str
    language: str
    transformer_index: int
    lon: float
    lat: float


def zone_ewkt(name: str) -> str:
    w, s, e, n = ZONES[name]
    return f"SRID=4326;MULTIPOLYGON((({w} {s}, {e} {s}, {e} {n}, {w} {n}, {w} {s})))"


def roads() -> list[tuple[str, str, Line]]:
    """(name, kind, line): arterials from the CBD and a street grid about every 1.1 km."""
    result = [(name, "arterial", Line(name, (CBD, end))) for name, end in ARTERIALS.items()]
    steps = 0.01
    lon, n = WEST + steps, 1
    while lon < EAST - 1e-9:
        result.append((f"Street {n}", "street", Line(f"Street {n}", ((lon, SOUTH), (lon, NORTH)))))
        lon, n = round(lon + steps, 6), n + 1
    lat, n = SOUTH + steps, 1
    while lat < NORTH - 1e-9:
        result.append((f"Avenue {n}", "street", Line(f"Avenue {n}", ((WEST, lat), (EAST, lat)))))
        lat, n = round(lat + steps, 6), n + 1
    return result


def _inside(zone: str, lon: float, lat: float, margin: float = 0.003) -> tuple[float, float]:
    w, s, e, n = ZONES[zone]
    return min(max(lon, w + margin), e - margin), min(max(lat, s + margin), n - margin)


def feeders(seed: int = SEED) -> list[tuple[str, str, str, Line]]:
    """(code, name, zone, route): each feeder leaves a substation near the zone centre and wanders outwards."""
    rng = random.Random(seed)
    result = []
    for zone_index, zone in enumerate(ZONES):
        w, s, e, n = ZONES[zone]
        substation = ((w + e) / 2, (s + n) / 2)
        for k in range(FEEDERS_PER_ZONE):
            code = f"F{zone_index + 1}{k + 1:02d}"
            heading = rng.uniform(0, 1)
            points = [substation]
            for _step in range(5):
                lon, lat = points[-1]
                dx = (e - w) * 0.12 * (1 if heading > 0.5 else -1) * rng.uniform(0.5, 1.2)
                dy = (n - s) * 0.14 * (1 if k % 2 == 0 else -1) * rng.uniform(0.5, 1.2)
                points.append(_inside(zone, lon + dx, lat + dy))
            result.append((code, f"{zone} feeder {k + 1}", zone, Line(code, tuple(points))))
    return result


def _along(points: tuple[tuple[float, float], ...], fraction: float) -> tuple[float, float]:
    segments = len(points) - 1
    position = fraction * segments
    i = min(int(position), segments - 1)
    t = position - i
    (x1, y1), (x2, y2) = points[i], points[i + 1]
    return x1 + (x2 - x1) * t, y1 + (y2 - y1) * t


def transformers(seed: int = SEED) -> list[Transformer]:
    rng = random.Random(seed + 1)
    result = []
    for code, _name, zone, line in feeders(seed):
        for k in range(TRANSFORMERS_PER_FEEDER):
            lon, lat = _along(line.points, (k + 0.5) / TRANSFORMERS_PER_FEEDER)
            lon, lat = _inside(zone, lon + rng.uniform(-0.0015, 0.0015), lat + rng.uniform(-0.0015, 0.0015))
            result.append(Transformer(f"T-{code}-{k + 1:03d}", code, round(lon, 6), round(lat, 6)))
    return result


def customers(count: int, seed: int = SEED, start: int = 0) -> Iterator[Customer]:
    """Customers `start`..`count-1`, spread around transformers; customer i is the same in every run."""
    points = [(t.lon, t.lat) for t in transformers(seed)]
    languages = [lang for lang, weight in LANGUAGE_WEIGHTS for _ in range(weight)]
    rng = random.Random(seed + 2)
    for i in range(count):
        # Draw for every index, even skipped ones, so customer i never depends on `start`.
        t_index = i % len(points)
        dlon, dlat = rng.uniform(-0.0022, 0.0022), rng.uniform(-0.0022, 0.0022)
        first, last, lang = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES), rng.choice(languages)
        if i < start:
            continue
        lon = min(max(points[t_index][0] + dlon, WEST + 1e-4), EAST - 1e-4)
        lat = min(max(points[t_index][1] + dlat, SOUTH + 1e-4), NORTH - 1e-4)
        yield Customer(meter_no=f"{14200000000 + i}", name=f"{first} {last}",
                       phone=f"+2547{(10000000 + i * 7919) % 90000000 + 10000000:08d}",
                       language=lang, transformer_index=t_index, lon=round(lon, 6), lat=round(lat, 6))


def crews() -> list[tuple[str, str, str, tuple[float, float]]]:
    """(code, name, home zone, depot position)."""
    result = []
    number = 1
    for (zone, (w, s, e, n)), count in zip(ZONES.items(), CREWS_PER_ZONE, strict=True):
        for k in range(count):
            depot = (round((w + e) / 2 + 0.01 * (k - 1), 6), round((s + n) / 2 - 0.008 * k, 6))
            result.append((f"C{number:02d}", f"{zone} crew {k + 1}", zone, depot))
            number += 1
    return result


# Zone responsible people (supervisors): who "fixes responsibility where complaints are pending".
ZONE_RESPONSIBLE = {
    "Westlands": ("wanjiru", "Grace Wanjiru"),
    "Kasarani": ("otieno", "Tom Otieno"),
    "Lang'ata": ("kamau", "Mary Kamau"),
    "Embakasi": ("mohamed", "Ali Mohamed"),
}

# A handful of reports so the screens are not empty: (meter index, category).
DEMO_REPORTS = ((5, "no_power"), (205, "no_power"), (405, "no_power"), (77, "danger"), (1210, "low_voltage"))
