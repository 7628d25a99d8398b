"""Installations demo data for `flask seed-demo` (idempotent): OEMs and their users, the material
catalogue and stock, and a few hundred jobs spread over every stage (emergencies, not-ready sites,
local procurement, payouts).

One story: a visit is done only on or before the day it was reported done (never in the future),
allocated materials leave the stock ledger, installed chargers enter the registry, and payouts
follow each team's payment schedule (a fortnightly team is paid once its fortnight has closed)."""
from __future__ import annotations

import random
from datetime import datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.extensions import appbuilder
from app.models.installations import BomLine, Material, Oem, OemUser, StockLevel, StockLocation, StockMove
from app.models.people import PaymentSchedule
from app.services import installations
from app.models.base import utcnow
from app.models.customers import Customer
from app.models.installations import (
    InstallationJob, InstallationReport, JobCall, JobEvent, JobFile, JobMessage, JobVisit, Lead, Payout, PayoutItem,
    SurveyReport, TeamBooking, VendorPayment, VendorPurchase,
)
from app.models.people import FieldTeam
from app.services.installations_uploads import upload_dir
from app.services.installations_materials import DEFAULT_BOM
from app.services.installations_payouts import period_of
from app.services.chargers_registry import register_installed_charger
from app.demo.chargers import give_ocpp_passwords

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


DEMO_JOBS = 300
FIRST = ["Sunil", "Kamala", "Nuwan", "Dilrukshi", "Asanka", "Thilini", "Mahesh", "Chathurika", "Ruwan", "Sanduni", "Pradeep", "Ishani"]
LAST = ["Perera", "Fernando", "Silva", "Jayasuriya", "Bandara", "Wijesinghe", "Ranasinghe", "Gunawardena", "Dias", "Karunaratne"]
DISTRICTS = ["Colombo", "Colombo", "Colombo", "Gampaha", "Kalutara", "Kandy", "Galle", "Matara", "Kurunegala", "Matale"]
VEHICLES = {"TATA": ["Nexon EV", "Tiago EV", "Punch EV"], "MG": ["ZS EV", "Comet EV", "Windsor EV"]}
PIN = {"Colombo": (6.9271, 79.8612), "Gampaha": (7.0873, 79.9998), "Kalutara": (6.5854, 79.9607), "Kandy": (7.2906, 80.6337),
       "Galle": (6.0535, 80.2210), "Matara": (5.9549, 80.5550), "Kurunegala": (7.4863, 80.3647), "Matale": (7.4675, 80.6234)}


def _path(target: str, rng: random.Random) -> list[str]:
    """The stages a demo job went through to reach `target` (with the branches it took)."""
    main = [installations.LEAD_LOGGED, installations.INTRO_CALL_DONE, installations.DOCUMENTS_COMPLETE, installations.SURVEY_SCHEDULED, installations.SURVEY_ASSIGNED, installations.SURVEY_DONE]
    if target in main:
        return main[: main.index(target) + 1]
    if target == installations.SITE_NOT_READY:
        return main + [installations.SITE_NOT_READY]
    after = [installations.SITE_READY, installations.MATERIALS_CHECKED]
    pre = main + ([installations.SITE_NOT_READY] if rng.random() < 0.15 else [])
    if target in after:
        return pre + after[: after.index(target) + 1]
    if target in (installations.LOCAL_PROCUREMENT, installations.MATERIALS_ALLOCATED):
        materials = target
    else:
        materials = installations.LOCAL_PROCUREMENT if rng.random() < 0.2 else installations.MATERIALS_ALLOCATED
    rest = [materials, installations.INSTALLATION_SCHEDULED, installations.INSTALLATION_ASSIGNED, installations.INSTALLED, installations.CLOSURE_CALL_DONE,
            installations.CLOSURE_PACK_SUBMITTED, installations.PAYABLE, installations.PAID]
    return pre + after + rest[: rest.index(target) + 1]


def seed_jobs(session: Session, refs: dict) -> None:
    """A few hundred jobs over every stage, written in bulk; existing demo leads are left alone."""


    existing = set(session.scalars(select(Lead.oem_ref).where(Lead.oem_ref.like("DEMO-%"))))
    if len(existing) >= DEMO_JOBS:
        return
    rng = random.Random(6)
    now = utcnow()
    today = now.date()
    teams = list(session.scalars(select(FieldTeam).where(FieldTeam.active.is_(True)).order_by(FieldTeam.id)))
    booked = set(session.execute(select(TeamBooking.team_id, TeamBooking.booking_date, TeamBooking.slot)).all())
    ops = appbuilder.sm.find_user(username="centralops")
    dispatcher = appbuilder.sm.find_user(username="dispatcher")
    procurement = appbuilder.sm.find_user(username="procurement")
    finance = appbuilder.sm.find_user(username="finance")
    field = appbuilder.sm.find_user(username="fieldteam")
    bill = b"%PDF-1.4\n% demo electricity bill\n%%EOF\n"
    folder = upload_dir()
    phones = set(session.scalars(select(Customer.phone)))
    weights = {st: 1.0 for st in installations.STAGES}
    weights.update({installations.PAID: 4, installations.PAYABLE: 2, installations.LEAD_LOGGED: 2, installations.SURVEY_SCHEDULED: 2, installations.SURVEY_ASSIGNED: 2,
                    installations.SITE_NOT_READY: 1.5, installations.LOCAL_PROCUREMENT: 1.5, installations.ON_HOLD: 0.5, installations.CANCELLED: 0.5})
    stages, stage_weights = list(weights), list(weights.values())

    def team_for(kind, district, start, latest=None):
        skill = "can_survey" if kind == "survey" else "can_install"
        fits = [t for t in teams if getattr(t, skill) and t.serves(district)]
        if not fits:
            return None, start, "morning"
        for offset in range(60 if latest is None else max(1, (latest - start).days + 1)):
            day = start + timedelta(days=offset)
            for slot in ("morning", "afternoon"):
                for team in rng.sample(fits, len(fits)):
                    if (team.id, day, slot) not in booked:
                        booked.add((team.id, day, slot))
                        return team, day, slot
        return None, start, "morning"

    def visit_day(visit, t, index):
        """When the visit's work is done: at t, or on the visit's own later day (every team was booked sooner) when
        that day and the job's remaining steps are still in the past; None when the visit is still ahead."""
        if visit.visit_date <= t.date():
            return t
        done = datetime.combine(visit.visit_date, time(16, 0))
        return done if done + timedelta(hours=hours_per_step * (len(path) - index)) <= now else None

    paid_by_team: dict = {}
    installed: list = []
    levels = {(lv.material_id, lv.location_id): lv for lv in session.scalars(select(StockLevel))}
    if not session.scalar(select(StockMove.id).limit(1)):
        for level in levels.values():  # the opening stock, so the stock ledger adds up to the levels
            session.add(StockMove(material_id=level.material_id, location_id=level.location_id, quantity=level.quantity,
                                  reason="Opening stock", user_id=procurement.id, at=now - timedelta(days=120)))
    bom = [(refs["materials"][sku], qty) for sku, qty in DEFAULT_BOM.items()]

    def allocate(job, team, at):
        """What allocate_materials does: the BOM leaves the store for the team (goods received first if short)."""
        for material, qty in bom:
            level = levels[(material.id, job.stock_location_id)]
            if level.quantity < qty:
                restock = 20 * qty
                level.quantity += restock
                session.add(StockMove(material_id=material.id, location_id=level.location_id, quantity=restock,
                                      reason="Goods received", user_id=procurement.id, at=at - timedelta(hours=2)))
            level.quantity -= qty
            session.add(BomLine(job_id=job.id, material_id=material.id, quantity=qty, allocated=True))
            session.add(StockMove(material_id=material.id, location_id=level.location_id, quantity=-qty, job_id=job.id,
                                  team_id=team.id if team else None, reason=f"Allocated to {team.name} for {job.code}" if team else f"Allocated for {job.code}",
                                  user_id=procurement.id, at=at))

    for n in range(1, DEMO_JOBS + 1):
        ref = f"DEMO-{n:04d}"
        if ref in existing:
            continue
        oem = refs["oems"]["TATA" if n % 3 else "MG"]
        district = DISTRICTS[n % len(DISTRICTS)]
        target = rng.choices(stages, stage_weights)[0]
        held = None
        if target in (installations.ON_HOLD, installations.CANCELLED):
            held = rng.choice([installations.LEAD_LOGGED, installations.INTRO_CALL_DONE, installations.DOCUMENTS_COMPLETE, installations.SITE_NOT_READY])
            path = _path(held, rng) + [target]
        else:
            path = _path(target, rng)
        if district == "Kurunegala" and installations.SURVEY_SCHEDULED in path:
            district = "Colombo"  # no survey team serves Kurunegala
        if district in ("Galle", "Matara") and installations.INSTALLATION_SCHEDULED in path:
            district = "Gampaha"  # no installation team serves the south
        name = f"{FIRST[n % len(FIRST)]} {LAST[(n * 7) % len(LAST)]}"
        phone = f"+9477{5000000 + n:07d}"
        while phone in phones:
            phone = f"+9477{rng.randint(6000000, 9999999):07d}"
        phones.add(phone)
        hours_per_step = rng.randint(10, 40)
        # finished jobs are spread over the last three months, open ones entered their stage lately
        age = rng.randint(0, 24 * 90) if path[-1] in (installations.PAID, installations.CANCELLED) else rng.randint(0, 48)
        t = now - timedelta(hours=hours_per_step * len(path) + age)
        lead = Lead(oem_id=oem.id, oem_ref=ref, source=rng.choice(["api", "api", "portal", "central ops"]), customer_name=name,
                    phone=phone, address=f"{n} {rng.choice(['Temple', 'Lake', 'Station', 'Hill', 'Galle'])} Road, {district}",
                    district=district, vehicle_model=rng.choice(VEHICLES[oem.code]), charger_type="7.4 kW AC", created_at=t)
        customer = Customer(name=name, phone=phone, address=lead.address, created_at=t)
        session.add_all([lead, customer])
        session.flush()
        lat, lng = PIN.get(district, (7.0, 80.0))
        job = InstallationJob(lead_id=lead.id, oem_id=oem.id, customer_id=customer.id, stage=path[-1], district=district,
                              address=lead.address, created_at=t, stage_changed_at=t)
        session.add(job)
        session.flush()
        events, extra = [], []
        survey_team = install_team = None
        prev = None
        for stage in path:
            actor = dispatcher if "assigned" in stage.lower() or "scheduled" in stage.lower() else ops
            comment = None
            if stage == installations.INTRO_CALL_DONE:
                extra.append(JobCall(job_id=job.id, purpose="intro", outcome="reached", user_id=ops.id, at=t))
                extra.append(JobMessage(job_id=job.id, to_phone=phone, template="upload_link", created_at=t,
                                        body=f"Hello {name}, please share your electricity bill, location and electrician's contact."))
            elif stage == installations.DOCUMENTS_COMPLETE:
                job.latitude = Decimal(str(round(lat + rng.uniform(-0.05, 0.05), 6)))
                job.longitude = Decimal(str(round(lng + rng.uniform(-0.05, 0.05), 6)))
                job.electrician_name, job.electrician_phone = f"{LAST[n % len(LAST)]} Electricals", f"+9471{3000000 + n:07d}"
                stored = f"job{job.id}-electricity_bill-demo{n:04d}.pdf"
                (folder / stored).write_bytes(bill)
                extra.append(JobFile(job_id=job.id, kind="electricity_bill", stored_name=stored, original_name="bill.pdf",
                                     content_type="application/pdf", size=len(bill), created_at=t))
                actor, comment = None, "All customer documents are in"
            elif stage in (installations.SURVEY_SCHEDULED, installations.INSTALLATION_SCHEDULED):
                kind = "survey" if stage == installations.SURVEY_SCHEDULED else "installation"
                final = stage == path[-1]
                if final:
                    team, day, slot = team_for(kind, district, today + timedelta(days=rng.randint(1, 10)))
                else:  # done two steps later: the visit day lies between now and then
                    team, day, slot = team_for(kind, district, t.date(), (t + timedelta(hours=2 * hours_per_step)).date())
                    if team is None:  # every fitting team is booked then: a later day that still leaves the job's
                        # remaining steps in the past, else the first free day (the job then waits for its visit)
                        after_visit = len(path) - (path.index(stage) + 2)
                        latest = (now - timedelta(hours=hours_per_step * (after_visit + 1))).date()
                        if latest > t.date():
                            team, day, slot = team_for(kind, district, t.date(), latest)
                    if team is None:
                        team, day, slot = team_for(kind, district, t.date())
                visit = JobVisit(job_id=job.id, kind=kind, code=f"{'SRV' if kind == 'survey' else 'INST'}-{job.id:05d}",
                                 visit_date=day, slot=slot, status="scheduled", created_at=t)
                session.add(visit)
                session.flush()
                if final and team is not None and n % 4 == 0:
                    # the emergency path: the assigned team reported unavailable, waiting for a backup
                    visit.status, visit.team_id, visit.note = "team unavailable", team.id, "Team vehicle broke down"
                    session.add(TeamBooking(team_id=team.id, booking_date=day, slot=slot, visit_id=visit.id, status="unavailable"))
                    session.add(JobVisit(job_id=job.id, kind=kind, code=visit.code, visit_date=day, slot=slot, status="scheduled",
                                         emergency=True, created_at=t))
                    job.emergency = True
                    job.priority = n % 8 == 0
                    comment = f"EMERGENCY: {team.name} unavailable for {visit.code}"
                elif final and team is not None:
                    booked.discard((team.id, day, slot))  # scheduled only: no team holds the slot yet
                elif team is not None:
                    visit._team = team
                job._visit = visit
                comment = comment or f"{kind.title()} on {day} ({slot})"
            elif stage in (installations.SURVEY_ASSIGNED, installations.INSTALLATION_ASSIGNED):
                visit = job._visit
                team = getattr(visit, "_team", None)
                if team is None:
                    kind = visit.kind
                    team, day, slot = team_for(kind, district, visit.visit_date)
                    if team is None:
                        continue
                    visit.visit_date, visit.slot = day, slot
                visit.team_id, visit.status = team.id, "assigned"
                session.add(TeamBooking(team_id=team.id, booking_date=visit.visit_date, slot=visit.slot, visit_id=visit.id))
                if visit.kind == "survey":
                    survey_team = team
                else:
                    install_team = team
                comment = f"{visit.code} assigned to {team.name}"
            elif stage == installations.SURVEY_DONE:
                t = visit_day(job._visit, t, path.index(stage))
                if t is None:
                    break  # the survey is still ahead: the job waits at its assigned stage
                job._visit.status = "done"
                extra.append(JobCall(job_id=job.id, purpose="survey day", outcome="confirmed", user_id=field.id, at=t))
                extra.append(SurveyReport(job_id=job.id, team_id=survey_team.id if survey_team else None, submitted_by_id=field.id, submitted_at=t,
                                          checklist='{"main_supply_phase": "single", "sanctioned_load_kw": "%d", "earthing_present": "%s", "cable_run_m": "%d"}'
                                          % (rng.choice([5, 10, 15]), rng.choice(["yes", "no"]), rng.randint(5, 30))))
                actor = field
            elif stage == installations.SITE_NOT_READY:
                work = rng.sample(installations.REQUIRED_WORK_TYPES[:3], rng.randint(1, 2))
                job.site_ready, job.required_work = False, ", ".join(work)
                comment = f"Site not ready: {job.required_work}"
            elif stage == installations.SITE_READY:
                job.site_ready = True
            elif stage == installations.MATERIALS_CHECKED:
                job.materials_available = installations.LOCAL_PROCUREMENT not in path
                job.stock_location_id = refs["locations"]["Kandy store" if district in ("Kandy", "Matale") else "Colombo warehouse"].id
                actor = procurement
            elif stage == installations.LOCAL_PROCUREMENT:
                paid = path[-1] != installations.LOCAL_PROCUREMENT or n % 2 == 0
                purchase = VendorPurchase(job_id=job.id, vendor_name=rng.choice(["Lanka EV Supplies", "Kandy Electricals", "Southern Wiring"]),
                                          items="1 x 7.4 kW wallbox, 15 m cable", amount=Decimal(rng.choice(["192500.00", "205000.00", "187750.00"])),
                                          upi_id=f"vendor{n}@okbank", status="paid" if paid else "awaiting payment", created_at=t)
                session.add(purchase)
                session.flush()
                if paid:
                    extra.append(VendorPayment(purchase_id=purchase.id, job_id=job.id, amount=purchase.amount, reference=f"DEMO-UPI-{n:04d}",
                                               paid_by_id=finance.id, paid_at=t + timedelta(hours=6)))
                actor = procurement
            elif stage == installations.MATERIALS_ALLOCATED:
                actor = procurement
                allocate(job, install_team or survey_team, t)
            elif stage == installations.INSTALLED:
                t = visit_day(job._visit, t, path.index(stage))
                if t is None:
                    break  # the installation is still ahead
                job._visit.status = "done"
                job.charger_serial, job.ocpp_identity = f"{oem.code}-7K-{n:05d}", f"CP-{oem.code}-{n:05d}"
                installed.append(job)
                extra.append(JobCall(job_id=job.id, purpose="installation day", outcome="confirmed", user_id=field.id, at=t))
                extra.append(InstallationReport(job_id=job.id, team_id=install_team.id if install_team else None, charger_serial=job.charger_serial,
                                                ocpp_identity=job.ocpp_identity, demo_given=True, submitted_by_id=field.id, submitted_at=t))
                actor = field
            elif stage == installations.CLOSURE_CALL_DONE:
                extra.append(JobCall(job_id=job.id, purpose="closure", outcome="confirmed", user_id=ops.id, at=t))
                job.signoff_name, job.signoff_at = name, t
            elif stage == installations.CLOSURE_PACK_SUBMITTED:
                job.closure_submitted_at = t
            elif stage == installations.PAYABLE:
                job.payable_at = t
            elif stage == installations.PAID:
                payee = install_team or survey_team  # whom release_payouts pays: the installer, else the surveyor
                if payee is None:
                    break
                period_end = period_of(payee.payment_schedule, job.payable_at.date())[1]
                if payee.payment_schedule != PaymentSchedule.PER_JOB:  # released once the period has closed
                    t = max(t, datetime.combine(period_end + timedelta(days=1), time(4, 30)))
                if t > now:
                    break  # its pay period is still running: payable, not paid yet
                job.paid_at = t
                paid_by_team.setdefault(payee.id, []).append((job, survey_team, install_team))
                actor = finance
            elif stage == installations.ON_HOLD:
                job.held_from_stage, comment = prev, "Customer travelling"
            elif stage == installations.CANCELLED:
                comment = "Customer bought a charger elsewhere"
            events.append(JobEvent(job_id=job.id, user_id=actor.id if actor else None,
                                   actor=actor.username if actor else ("customer" if stage == installations.DOCUMENTS_COMPLETE else "system"),
                                   from_stage=prev, to_stage=stage, comment=comment or (f"Lead {ref} from {oem.name}" if prev is None else None), at=t))
            job.stage, job.stage_changed_at, prev = stage, t, stage
            t += timedelta(hours=hours_per_step)
        session.add_all(events + extra)
    session.flush()

    for job in installed:  # an installed charger is in the registry, as the installation report does
        register_installed_charger(session, ocpp_identity=job.ocpp_identity, serial=job.charger_serial, charger_type="7.4 kW AC",
                                   address=job.address, latitude=float(job.latitude) if job.latitude is not None else None,
                                   longitude=float(job.longitude) if job.longitude is not None else None, job_code=job.code)
    session.flush()

    give_ocpp_passwords(session)
    for tid, items in paid_by_team.items():
        team = session.get(FieldTeam, tid)
        periods: dict = {}  # one payout per job, fortnight or month, as release_payouts makes them
        for item in items:
            start, end = period_of(team.payment_schedule, item[0].payable_at.date())
            key = (start, end, item[0].id if team.payment_schedule == PaymentSchedule.PER_JOB else None)
            periods.setdefault(key, []).append(item)
        for k, ((start, end, _), chunk) in enumerate(sorted(periods.items(), key=lambda kv: (kv[0][0], kv[0][2] or 0)), start=1):
            when = max(j.paid_at for j, _, _ in chunk)
            for j, _, _ in chunk:
                j.paid_at = when  # the release's moment, as release_payouts records it
            payout = Payout(team_id=tid, period_start=start, period_end=end,
                            amount=sum((st.survey_rate if st else 0) + (it.installation_rate if it else 0) for _, st, it in chunk),
                            reference=f"DEMO-PAY-{tid}-{k}-{chunk[0][0].id}", released_by_id=finance.id, created_at=when)
            session.add(payout)
            session.flush()
            for j, st, it in chunk:
                survey_amount = st.survey_rate if st else Decimal("0.00")
                install_amount = it.installation_rate if it else Decimal("0.00")
                session.add(PayoutItem(payout_id=payout.id, job_id=j.id, survey_amount=survey_amount,
                                       installation_amount=install_amount, amount=survey_amount + install_amount))
    session.commit()
