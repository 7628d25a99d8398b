"""Installations demo data for `flask seed-demo` (idempotent): OEMs and their users, the material
catalogue and stock, and a few hundred jobs spread over every stage (emergencies, not-ready sites,
local procurement, payouts)."""
from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.extensions import appbuilder
from app.models.installations import Material, Oem, OemUser, StockLevel, StockLocation

OEMS = [
    ("Tata Motors", "TATA", "Priya Nair", "ev-installs@tatamotors.example", "+94112000101", "oem_tata"),
    ("MG Motor", "MG", "Arjun Rao", "charging@mgmotor.example", "+94112000202", "oem_mg"),
]
MATERIALS = [
    ("CHG-AC7", "7.4 kW AC wallbox charger", "charger", "pcs", "185000.00"),
    ("CHG-AC22", "22 kW AC charger", "charger", "pcs", "320000.00"),
    ("CBL-6MM", "6 mm² 3-core armoured cable", "cable", "m", "1450.00"),
    ("CBL-10MM", "10 mm² 5-core armoured cable", "cable", "m", "2600.00"),
    ("MNT-WALL", "Wall mounting kit", "mounting hardware", "pcs", "6500.00"),
    ("MNT-PED", "Pedestal stand", "mounting hardware", "pcs", "42000.00"),
    ("MCB-32A", "32 A Type-B MCB with RCD", "protection", "pcs", "14800.00"),
    ("ERT-ROD", "Copper earthing rod kit", "protection", "pcs", "9800.00"),
]
LOCATIONS = [("Colombo warehouse", "Colombo"), ("Kandy store", "Kandy")]


def seed_reference(session: Session) -> dict:
    """OEMs linked to the demo OEM users, the catalogue and stock (also used by the tests)."""
    oems = {}
    for name, code, contact, email, phone, username in OEMS:
        oem = session.scalar(select(Oem).where(Oem.code == code))
        if oem is None:
            oem = Oem(name=name, code=code, contact_name=contact, contact_email=email, contact_phone=phone)
            session.add(oem)
            session.flush()
        oems[code] = oem
        user = appbuilder.sm.find_user(username=username)
        if user is not None and session.scalar(select(OemUser).where(OemUser.user_id == user.id)) is None:
            session.add(OemUser(user_id=user.id, oem_id=oem.id))
    materials = {}
    for sku, name, category, unit, cost in MATERIALS:
        material = session.scalar(select(Material).where(Material.sku == sku))
        if material is None:
            material = Material(sku=sku, name=name, category=category, unit=unit, unit_cost=Decimal(cost))
            session.add(material)
        materials[sku] = material
    locations = {}
    for name, district in LOCATIONS:
        location = session.scalar(select(StockLocation).where(StockLocation.name == name))
        if location is None:
            location = StockLocation(name=name, district=district)
            session.add(location)
        locations[name] = location
    session.flush()
    for location in locations.values():
        for material in materials.values():
            if session.scalar(select(StockLevel.id).where(StockLevel.material_id == material.id, StockLevel.location_id == location.id)) is None:
                qty = 400 if material.unit == "m" else 40
                session.add(StockLevel(material_id=material.id, location_id=location.id, quantity=qty))
    session.flush()
    return {"oems": oems, "materials": materials, "locations": locations}


def seed(session: Session) -> None:
    refs = seed_reference(session)
    session.commit()
    seed_jobs(session, refs)


def seed_jobs(session: Session, refs: dict) -> None:
    """Filled in below."""
