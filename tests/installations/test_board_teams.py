"""The board offers, on each scheduled visit's card, only the teams the assignment rule would accept."""
from __future__ import annotations

from tests.installations.conftest import day


def test_board_offers_only_skilled_free_teams_serving_the_district(flow, web_as):
    job_id = flow.lead(district="Colombo")
    flow.documents(job_id)
    flow.do("dispatcher", job_id, "schedule", kind="survey", date=day(3), slot="morning")
    busy = flow.lead(ref="TM-2", district="Colombo")  # Team Colombo South is booked in the same slot
    flow.documents(busy)
    flow.survey(busy, team="Team Colombo South")

    html = web_as("dispatcher").get("/installations/board").get_data(as_text=True)
    card = html[html.index(f"/installations/job/{job_id}"):]
    card = card[:card.index("</form>")]
    assert "Team Colombo North" in card
    assert "Team Colombo South" not in card  # booked in that slot
    assert "Team Galle" not in card and "Team Kandy" not in card  # do not serve Colombo
    assert "Team Kurunegala" not in card  # no survey skill
