"""Chargers demo data for `flask seed-demo` (idempotent): ~200 chargers across Sri Lankan sites."""
from __future__ import annotations

import random
from datetime import timedelta

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models.base import utcnow
from app.models.chargers import Charger, Connector
from app.models.chargers_ocpp import ChargerOcppLink
from app.services.chargers_ocpp import hash_ocpp_password

# (site, town, latitude, longitude, chargers there)
SITES = [
    ("Colombo Fort", "Colombo 01", 6.9344, 79.8428, 24),
    ("Colombo City Centre", "Colombo 02", 6.9175, 79.8555, 20),
    ("Bambalapitiya Arcade", "Colombo 04", 6.8939, 79.8560, 12),
    ("Rajagiriya Park", "Rajagiriya", 6.9094, 79.8964, 10),
    ("Nugegoda Junction", "Nugegoda", 6.8649, 79.8997, 10),
    ("Mount Lavinia Hotel", "Dehiwala-Mount Lavinia", 6.8389, 79.8636, 8),
    ("Negombo Beach Road", "Negombo", 7.2083, 79.8358, 12),
    ("Katunayake Expressway Exit", "Katunayake", 7.1697, 79.8846, 8),
    ("Kandy City Centre", "Kandy", 7.2906, 80.6337, 16),
    ("Peradeniya", "Kandy", 7.2690, 80.5942, 6),
    ("Galle Fort", "Galle", 6.0267, 80.2170, 12),
    ("Southern Expressway Welipenna", "Welipenna", 6.4460, 80.0670, 8),
    ("Matara Town", "Matara", 5.9485, 80.5353, 8),
    ("Kurunegala Clock Tower", "Kurunegala", 7.4863, 80.3647, 8),
    ("Anuradhapura New Town", "Anuradhapura", 8.3114, 80.4037, 6),
    ("Dambulla", "Dambulla", 7.8742, 80.6511, 6),
    ("Nuwara Eliya", "Nuwara Eliya", 6.9497, 80.7891, 6),
    ("Jaffna Town", "Jaffna", 9.6615, 80.0255, 6),
    ("Trincomalee", "Trincomalee", 8.5874, 81.2152, 5),
    ("Batticaloa", "Batticaloa", 7.7310, 81.6747, 4),
]
MODELS = {
    "L2": [("ABB", "Terra AC W22", 22.0), ("Delta", "AC Max", 11.0), ("Wallbox", "Commander 2", 7.4)],
    "L3": [("ABB", "Terra 54", 50.0), ("Delta", "DC Wallbox 25", 25.0), ("Kempower", "S-Series", 120.0)],
}


def seed(session: Session) -> None:
    rng = random.Random(2026)
    existing = set(session.scalars(select(Charger.cid)))
    now = utcnow()
    for index, (site, town, lat, lng, count) in enumerate(SITES, start=1):
        code = "".join(w[0] for w in site.split()).upper() + f"{index:02d}"  # initials alone collide
        for n in range(1, count + 1):
            cid = f"LK-{code}-{n:02d}"
            if cid in existing:
                continue
            ctype = "L3" if rng.random() < 0.3 else "L2"
            vendor, model, power = rng.choice(MODELS[ctype])
            interval = rng.choice([30, 60, 300])
            seen = now - timedelta(seconds=rng.randint(0, 2 * interval))
            if rng.random() < 0.06:
                seen = now - timedelta(hours=rng.randint(1, 30))  # long silent
            charger = Charger(
                cid=cid, name=f"{site} #{n}", type=ctype, power_kw=power, vendor=vendor, model=model,
                serial=f"{vendor[:3].upper()}{rng.randint(100000, 999999)}", firmware_version=f"{rng.randint(1, 3)}.{rng.randint(0, 9)}.{rng.randint(0, 20)}",
                site=site, address=f"{site}, {town}, Sri Lanka",
                latitude=round(lat + rng.uniform(-0.01, 0.01), 5), longitude=round(lng + rng.uniform(-0.01, 0.01), 5),
                heartbeat_interval=interval, last_seen=seen, offline_after=seen + timedelta(seconds=3 * interval),
                offline=seen + timedelta(seconds=3 * interval) < now, last_heartbeat_at=seen,
                last_heartbeat_gap=interval * (2.0 if rng.random() < 0.04 else 1.0),
                last_rssi=rng.choice([-92, -88]) if rng.random() < 0.05 else rng.randint(-80, -50),
                temperature_c=round(rng.uniform(28, 45), 1), created_at=now,
            )
            session.add(charger)
            session.flush()
            roll = rng.random()
            for connector_id in (0, 1, 2) if ctype == "L2" else (0, 1):
                status, error = "Available", "NoError"
                if connector_id == 1 and roll < 0.05:
                    status, error = "Faulted", rng.choice(["GroundFailure", "HighTemperature", "OtherError"])
                elif connector_id >= 1 and roll < 0.35 and rng.random() < 0.6:
                    status = "Charging"
                session.add(Connector(charger_id=charger.id, connector_id=connector_id, status=status,
                                      error_code=error, updated_at=seen))
    give_ocpp_passwords(session)


def give_ocpp_passwords(session: Session) -> None:
    """Every registered demo charger (the sites' and the installed home chargers) gets OCPP_DEMO_PASSWORD, so `flask simulate --ocpp` can play it through the gateway.

    One hash for all of them: the demo password is shared anyway, and 200 slow hashes would slow the seed.
    """
    missing = session.scalars(
        select(Charger.id).outerjoin(ChargerOcppLink, ChargerOcppLink.charger_id == Charger.id)
        .where(Charger.unregistered.is_(False), ChargerOcppLink.password_hash.is_(None))
    ).all()
    if not missing:
        return
    hashed, now = hash_ocpp_password(current_app.config["OCPP_DEMO_PASSWORD"]), utcnow()
    for charger_id in missing:
        link = session.get(ChargerOcppLink, charger_id)
        if link is None:
            session.add(ChargerOcppLink(charger_id=charger_id, connected=False, password_hash=hashed, password_set_at=now))
        else:
            link.password_hash, link.password_set_at = hashed, now
    session.flush()
