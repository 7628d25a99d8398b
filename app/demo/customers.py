"""Customers demo data for `flask seed-demo`: a few thousand Sri Lankan customers with numbers,
vehicles, RFID tags, wallets with a ledger history, payments across providers and manual top-ups.
Every wallet charge cites a charging session that exists: one at a registry charger, started with
the customer's own RFID tag, so the customer page lists it (the chargers are seeded first).

Deterministic (fixed random seed) and idempotent: a second run finds the first customer and stops.
Written with bulk inserts so it takes seconds, not minutes. The history is generated in Python
(it is a fresh load, nobody else writes these wallets yet), and every balance equals its ledger sum.
"""
from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

import phonenumbers
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from app.models.base import utcnow
from app.models.chargers import Charger, ChargingSession
from app.models.customers import (
    CHARGE, REFUND, TOPUP, TOPUP_CREDITED, TOPUP_PENDING, Customer, CustomerPhone, CustomerTag, Payment, TopUp,
    Vehicle, Wallet, WalletEntry,
)
from app.services.customers import default_currency
from sqlalchemy import update
from flask_appbuilder.security.sqla.models import User
from app.demo import chargers

CUSTOMERS = 3000
SEED = 20261121

SINHALA_FIRST = [
    "Kamal", "Nimal", "Sunil", "Ruwan", "Chaminda", "Tharindu", "Kasun", "Dinesh", "Pradeep", "Nuwan", "Lahiru",
    "Sampath", "Asanka", "Buddhika", "Chathura", "Dilshan", "Gayan", "Isuru", "Janaka", "Mahesh", "Roshan",
    "Sanjeewa", "Thilina", "Upul", "Nadeesha", "Dilani", "Malini", "Shanika", "Ishara", "Sachini", "Chamari",
    "Harshani", "Iresha", "Kumudu", "Nirosha", "Priyanka", "Sanduni", "Tharushi", "Anjali", "Hiruni", "Kaveesha",
    "Nethmi", "Ruwani", "Sewwandi", "Madushani", "Yasodha", "Amara", "Lasantha", "Rangana", "Hasitha",
]
SINHALA_LAST = [
    "Perera", "Fernando", "Silva", "de Silva", "Jayawardena", "Bandara", "Wickramasinghe", "Rajapaksa", "Herath",
    "Gunasekara", "Dissanayake", "Karunaratne", "Senanayake", "Jayasuriya", "Wijesinghe", "Rathnayake",
    "Gunawardena", "Samarasinghe", "Abeysekera", "Weerasinghe", "Ekanayake", "Amarasinghe", "Kumara",
    "Liyanage", "Munasinghe", "Pathirana", "Ranasinghe", "Seneviratne", "Wijeratne", "Jayasinghe", "Mendis",
    "Cooray", "Peiris", "Dias", "Kulatunga", "Hettiarachchi", "Madushanka", "Premadasa", "Weerakoon", "Rodrigo",
]
TAMIL_FIRST = ["Suresh", "Ramesh", "Karthik", "Vijay", "Arun", "Prakash", "Kumaran", "Senthil", "Thivya",
               "Kavitha", "Lakshmi", "Priya", "Nirmala", "Shalini", "Vasanthi", "Gowri"]
TAMIL_LAST = ["Sivakumar", "Rajendran", "Kanagaratnam", "Selvarajah", "Thevarajah", "Nadarajah", "Ponnambalam",
              "Balasubramaniam", "Arulanandam", "Yogarajah", "Sritharan", "Mahendran"]
MUSLIM_FIRST = ["Mohamed", "Ahamed", "Rizwan", "Fazil", "Imran", "Nazeer", "Fathima", "Ayesha", "Zainab", "Rifka"]
MUSLIM_LAST = ["Farook", "Hameed", "Marikar", "Jiffry", "Cassim", "Ismail", "Rahuman", "Haniffa", "Mohideen"]
TOWNS = [
    ("Colombo 03", "Galle Road"), ("Colombo 05", "Havelock Road"), ("Colombo 07", "Ward Place"),
    ("Dehiwala", "Hill Street"), ("Nugegoda", "Stanley Thilakaratne Mawatha"), ("Maharagama", "High Level Road"),
    ("Battaramulla", "Pannipitiya Road"), ("Kandy", "Peradeniya Road"), ("Galle", "Wakwella Road"),
    ("Negombo", "Lewis Place"), ("Kurunegala", "Colombo Road"), ("Gampaha", "Yakkala Road"),
    ("Moratuwa", "Station Road"), ("Kotte", "Parliament Road"), ("Jaffna", "Hospital Road"),
    ("Matara", "Anagarika Dharmapala Mawatha"), ("Panadura", "Horana Road"), ("Kiribathgoda", "Kandy Road"),
]
VEHICLES = [("Nissan", "Leaf"), ("BYD", "Atto 3"), ("BYD", "Dolphin"), ("BYD", "Seal"), ("MG", "ZS EV"), ("MG", "4"),
            ("Tata", "Nexon EV"), ("Hyundai", "Kona Electric"), ("Hyundai", "Ioniq 5"), ("Kia", "Niro EV"),
            ("BMW", "i3"), ("BMW", "iX1"), ("Tesla", "Model 3"), ("Audi", "e-tron"), ("Mercedes-Benz", "EQA")]
MOBILE_PREFIXES = ["77", "76", "71", "70", "78", "72", "75", "74"]
ONLINE_PROVIDERS = ["CyberSource", "CyberSource", "Dialog", "Amex"]
# demo sessions' transaction ids: far above what the OCPP gateway issues (1, 2, ...), never colliding
DEMO_TRANSACTION_BASE = 1_000_000_000
STATIONS = ["Colombo City Centre", "One Galle Face", "Liberty Plaza", "Kandy City Centre", "Arcade Independence Square",
            "Kadawatha Interchange", "Pelawatte Highway Rest", "Negombo Beach Road", "Galle Fort", "Kurunegala Town"]


def _phone(rng: random.Random, used: set[str]) -> str:
    while True:
        number = f"+94{rng.choice(MOBILE_PREFIXES)}{rng.randint(1000000, 9999999)}"
        if number not in used and phonenumbers.is_valid_number(phonenumbers.parse(number)):
            used.add(number)
            return number


def _name(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.75:
        return f"{rng.choice(SINHALA_FIRST)} {rng.choice(SINHALA_LAST)}"
    if roll < 0.9:
        return f"{rng.choice(TAMIL_FIRST)} {rng.choice(TAMIL_LAST)}"
    return f"{rng.choice(MUSLIM_FIRST)} {rng.choice(MUSLIM_LAST)}"


def _plate(rng: random.Random) -> str:
    letters = "ABCDEFGHJKLMNPQRSTUVWXYZ"
    return f"{rng.choice(['CA', 'CB', 'CAB', 'CBA', 'CBK', 'KX', 'BHA', 'PH'])}{rng.choice(letters) if rng.random() < 0.3 else ''}-{rng.randint(1000, 9999)}"


def seed(session: Session) -> None:
    rng = random.Random(SEED)
    used: set[str] = set()
    first_phone = _phone(random.Random(SEED), set())
    if session.scalar(select(CustomerPhone.id).where(CustomerPhone.phone == first_phone)) is not None:
        return  # already seeded
    used |= set(session.scalars(select(CustomerPhone.phone)))
    currency = default_currency()
    now = utcnow().replace(microsecond=0)

    people, phones_per_customer = [], []
    for i in range(CUSTOMERS):
        name = _name(rng)
        numbers = [_phone(rng, used) if i else _phone(random.Random(SEED), used)]
        if rng.random() < 0.15:
            numbers.append(_phone(rng, used))
        if rng.random() < 0.05:  # a landline
            numbers.append(f"+9411{rng.randint(2000000, 5999999)}")
        numbers = list(dict.fromkeys(numbers))
        town, street = rng.choice(TOWNS)
        email = (f"{name.split()[0].lower()}.{name.split()[-1].lower()}{rng.randint(1, 999)}@"
                 f"{rng.choice(['gmail.com', 'yahoo.com', 'sltnet.lk', 'outlook.com'])}") if rng.random() < 0.7 else None
        people.append({
            "name": name, "phone": numbers[0], "email": email,
            "address": f"{rng.randint(1, 450)} {street}, {town}",
            "notes": "Prefers WhatsApp" if rng.random() < 0.05 else None,
            "created_at": now - timedelta(days=rng.randint(30, 700)),
        })
        phones_per_customer.append(numbers)
    ids = list(session.scalars(insert(Customer).returning(Customer.id, sort_by_parameter_order=True), people))

    session.execute(insert(CustomerPhone), [
        {"customer_id": cid, "phone": p, "label": "mobile" if p.startswith("+947") else "home"}
        for cid, numbers in zip(ids, phones_per_customer) for p in numbers
    ])
    tags, vehicles = [], []
    for cid in ids:
        if rng.random() < 0.4:
            tags.append({"customer_id": cid, "tag": f"{rng.getrandbits(40):010X}", "kind": "RFID", "active": True})
        for _ in range(1 if rng.random() < 0.8 else 2):
            make, model = rng.choice(VEHICLES)
            vehicles.append({"customer_id": cid, "make": make, "model": model, "plate": _plate(rng)})
    session.execute(insert(Vehicle), vehicles)
    tags = list({t["tag"]: t for t in tags}.values())
    tag_of = {t["customer_id"]: t["tag"] for t in tags}
    tag_rng, site_rng = random.Random(SEED + 1), random.Random(SEED + 2)
    used_tags = set(tag_of.values()) | set(session.scalars(select(CustomerTag.tag)))
    fleet = _registry_chargers(session)
    charging_sessions = []

    finance_user, manager_user = _user_id(session, "finance"), _user_id(session, "manager")
    wallet_rows = [{"customer_id": cid, "currency": currency, "balance": Decimal("0.00"), "created_at": now} for cid in ids]
    wallet_ids = list(session.scalars(insert(Wallet).returning(Wallet.id, sort_by_parameter_order=True), wallet_rows))

    entries, payments, topups, balances = [], [], [], {}
    ref = 0
    for cid, wid, person in zip(ids, wallet_ids, people):
        balance = Decimal("0.00")
        when = person["created_at"]
        for _ in range(rng.randint(0, 14)):
            when = min(now - timedelta(minutes=5), when + timedelta(days=rng.randint(0, 20), minutes=rng.randint(1, 900)))
            ref += 1
            if balance < 500 or rng.random() < 0.3:
                amount = Decimal(rng.choice([1000, 2000, 2500, 3000, 5000, 10000]))
                provider = rng.choice(ONLINE_PROVIDERS + ["Manual"])
                reference = f"{provider[:2].upper()}-{when:%y%m%d}-{ref:06d}"
                if provider != "Manual" and rng.random() < 0.05:  # a failed card payment credits nothing
                    payments.append(_payment(provider, reference, "Failed", amount, currency, cid, when))
                    continue
                balance += amount
                source_type = "topup" if provider == "Manual" else "payment"
                reason = f"Manual top-up, receipt {reference}: cash at office" if provider == "Manual" else f"{provider} top-up"
                entries.append(_entry(wid, TOPUP, amount, balance, reason, source_type, reference, finance_user if provider == "Manual" else None, when))
                payments.append(_payment(provider, reference, "Settled", amount, currency, cid, when))
                if provider == "Manual":
                    topups.append({"customer_id": cid, "amount": amount, "currency": currency, "receipt_no": reference,
                                   "reason": "cash at office", "status": TOPUP_CREDITED, "created_by_id": finance_user,
                                   "created_at": when, "decided_by_id": finance_user, "decided_at": when})
            else:
                kwh = Decimal(rng.randint(50, 600)) / 10
                amount = min(balance, (kwh * Decimal("95.00")).quantize(Decimal("0.01")))
                rng.choice(STATIONS)  # keeps the generated history as it was before sessions were recorded
                if cid not in tag_of:
                    tag_of[cid] = _new_tag(tag_rng, used_tags)
                    tags.append({"customer_id": cid, "tag": tag_of[cid], "kind": "RFID", "active": True})
                charger_id, charger_cid, site = site_rng.choice(fleet)
                tx = DEMO_TRANSACTION_BASE + ref
                charging_sessions.append(_session(charger_id, tx, tag_of[cid], kwh, when))
                balance -= amount
                entries.append(_entry(wid, CHARGE, -amount, balance, f"Charging session {kwh} kWh at {site} ({charger_cid})",
                                      "session", session_ref(tx), None, when))
                if rng.random() < 0.03:
                    balance += amount
                    entries.append(_entry(wid, REFUND, amount, balance, "Session failed to start; charge refunded",
                                          "session", session_ref(tx), manager_user, when + timedelta(minutes=30)))
        balances[wid] = balance
    for i, cid in enumerate(ids[:3]):  # a few waiting for a second person's approval
        topups.append({"customer_id": cid, "amount": Decimal("75000.00") + i * 5000, "currency": currency,
                       "receipt_no": f"CHQ-DEMO-{i + 1:03d}", "reason": "Fleet prepayment by cheque",
                       "status": TOPUP_PENDING, "created_by_id": finance_user, "created_at": now - timedelta(hours=i + 1)})
    if tags:
        session.execute(insert(CustomerTag), tags)
    for chunk in range(0, len(charging_sessions), 5000):
        session.execute(insert(ChargingSession), charging_sessions[chunk:chunk + 5000])
    for chunk in range(0, len(entries), 5000):
        session.execute(insert(WalletEntry), entries[chunk:chunk + 5000])
    session.execute(insert(Payment), payments)
    session.execute(insert(TopUp), topups)

    session.execute(update(Wallet).execution_options(synchronize_session=False),
                    [{"id": wid, "balance": bal, "updated_at": now} for wid, bal in balances.items()])
    # the manual top-ups point at their ledger entries
    entry_ids = dict(session.execute(
        select(WalletEntry.source_ref, WalletEntry.id).where(WalletEntry.source_type == "topup")).all())
    session.execute(update(TopUp).execution_options(synchronize_session=False),
                    [{"id": tid, "entry_id": entry_ids[receipt]} for tid, receipt in
                     session.execute(select(TopUp.id, TopUp.receipt_no).where(TopUp.status == TOPUP_CREDITED)).all()
                     if receipt in entry_ids])


def session_ref(transaction_id: int) -> str:
    """How a wallet charge cites its charging session."""
    return f"SES-{transaction_id}"


def _registry_chargers(session: Session) -> list:
    """(id, cid, site) of the demo fleet, seeding it first when it is not there yet."""
    query = select(Charger.id, Charger.cid, Charger.site).where(Charger.unregistered.is_(False), Charger.cid.like("LK-%")).order_by(Charger.cid)
    rows = session.execute(query).all()
    if not rows:

        chargers.seed(session)
        rows = session.execute(query).all()
    return [tuple(r) for r in rows]


def _new_tag(rng: random.Random, used: set) -> str:
    while True:
        tag = f"{rng.getrandbits(40):010X}"
        if tag not in used:
            used.add(tag)
            return tag


def _session(charger_id: int, transaction_id: int, id_tag: str, kwh: Decimal, stopped_at) -> dict:
    minutes = max(10, int(kwh * 4))
    return {"charger_id": charger_id, "transaction_id": transaction_id, "connector_id": 1, "id_tag": id_tag,
            "meter_start": 0, "meter_last": int(kwh * 1000), "meter_stop": int(kwh * 1000), "energy_kwh": float(kwh),
            "power_kw": None, "status": "Completed", "stop_reason": "Local",
            "started_at": stopped_at - timedelta(minutes=minutes), "stopped_at": stopped_at, "updated_at": stopped_at}


def _entry(wallet_id, entry_type, amount, balance_after, reason, source_type, source_ref, user_id, when):
    return {"wallet_id": wallet_id, "entry_type": entry_type, "amount": amount, "balance_after": balance_after,
            "reason": reason, "source_type": source_type, "source_ref": source_ref, "reverses_id": None,
            "created_by_id": user_id, "created_at": when}


def _payment(provider, reference, status, amount, currency, customer_id, when):
    return {"provider": provider, "provider_ref": reference, "status": status, "amount": amount, "currency": currency,
            "customer_id": customer_id, "paid_at": when, "description": None, "import_batch_id": None, "created_at": when}


def _user_id(session: Session, username: str):
    return session.scalar(select(User.id).where(User.username == username))
