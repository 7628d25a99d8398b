"""With the CPO / Technical notification group set up, charger alerts go through Messaging's group alerts."""
from __future__ import annotations

from sqlalchemy import select

from app.models.chargers import Charger
from app.models.messaging import Alert, Message, Notification
from app.services import chargers_alerts


def _setup(session):
    from app.demo.messaging import seed_groups, seed_templates

    seed_templates(session)
    seed_groups(session)
    charger = Charger(cid="GRP-1", name="Charger GRP-1", type="L3", heartbeat_interval=60)
    session.add(charger)
    session.commit()
    return charger


def test_a_faulted_charger_alerts_the_group_on_whatsapp_and_in_app_once(session):
    charger = _setup(session)
    assert chargers_alerts.alert_charger_event(session, charger.id, "charger_faulted", "GroundFailure on connector 1") == 2
    session.commit()

    alert = session.scalar(select(Alert).where(Alert.ref_type == "charger", Alert.ref_id == "GRP-1"))
    assert alert.group.code == "cpo_technical" and alert.title == "Charger GRP-1 is Faulted"
    notified = session.scalars(select(Notification).where(Notification.ref_type == "alert", Notification.ref_id == alert.id)).all()
    assert sorted(n.user.username for n in notified) == ["cpo", "installer"]
    whatsapps = session.scalars(select(Message).where(Message.ref_type == "alert", Message.ref_id == alert.id)).all()
    assert len(whatsapps) == 2 and all(m.template.code == "team_alert" for m in whatsapps)

    # a flapping charger does not flood the group
    assert chargers_alerts.alert_charger_event(session, charger.id, "charger_faulted", "again") == 0
    session.commit()
    session.refresh(alert)
    assert alert.repeat_count == 1


def test_a_cleared_fault_resolves_the_open_alert(session):
    charger = _setup(session)
    chargers_alerts.alert_charger_event(session, charger.id, "charger_faulted", "")
    session.commit()
    assert chargers_alerts.alert_charger_event(session, charger.id, "fault_cleared", "Connector 1 Available") == 1
    session.commit()
    alert = session.scalar(select(Alert).where(Alert.ref_id == "GRP-1"))
    assert alert.resolved_at is not None and alert.resolution.startswith("Fault cleared")
