"""A field-team member sees only their own team's rates, jobs and vendor purchases (UI and API)."""
from __future__ import annotations

from decimal import Decimal


def test_the_api_shows_a_field_team_only_its_own_team(api_as):
    rows = api_as("fieldteam").get("/api/v1/field_teams/").json["result"]
    assert [r["name"] for r in rows] == ["Team Colombo North"]
    everyone = api_as("manager").get("/api/v1/field_teams/").json["result"]
    assert len(everyone) >= 5


def test_another_teams_rates_are_not_found(api_as, session):
    from app.models.people import FieldTeam

    other = session.query(FieldTeam).filter_by(name="Team Kandy").one()
    assert api_as("fieldteam").get(f"/api/v1/field_teams/{other.id}").status_code == 404


def test_the_screens_show_a_field_team_only_its_own_rates_and_purchases(web_as, session):
    from app.models.customers import Customer
    from app.models.installations import InstallationJob, Lead, Oem, VendorPurchase
    from app.models.people import FieldTeam

    own = session.query(FieldTeam).filter_by(name="Team Colombo North").one()
    other = session.query(FieldTeam).filter_by(name="Team Kandy").one()
    oem = Oem(name="Scope Motors", code="SCOPE")
    session.add(oem)
    session.flush()
    for n, team in enumerate((own, other)):
        lead = Lead(oem_id=oem.id, oem_ref=f"S-{n}", source="api", customer_name="C", phone="+94771230000")
        session.add(lead)
        session.flush()
        job = InstallationJob(lead_id=lead.id, oem_id=oem.id, stage="New")
        session.add(job)
        session.flush()
        session.add(VendorPurchase(job_id=job.id, team_id=team.id, vendor_name=f"Vendor of {team.name}",
                                   items="cable", amount=Decimal("100.00")))
    session.commit()
    browser = web_as("fieldteam")
    purchases = browser.get("/vendorpurchaseview/list/").get_data(as_text=True)
    assert "Vendor of Team Colombo North" in purchases and "Vendor of Team Kandy" not in purchases
    teams = browser.get("/fieldteamview/list/").get_data(as_text=True)
    assert "Team Colombo North" in teams and "Team Kandy" not in teams
    assert browser.get(f"/fieldteamview/show/{other.id}").status_code == 404
