"""The estate page's "Reveal" button for a masked officer (#10 section 4)."""

from __future__ import annotations

import pytest


@pytest.fixture
def officer(estate):
    person = estate.user("executive")
    person.phone = "+1 415 555 0100"
    person.save(update_fields=["phone"])
    for site in estate.sites:
        site.officer_in_charge = person
        site.save(update_fields=["officer_in_charge"])
    return person


def estate_page(client, user) -> str:
    client.force_login(user)
    response = client.get("/estate/")
    assert response.status_code == 200
    return response.content.decode()


def test_the_operator_sees_masked_rows_with_a_reveal_button_per_site(client, estate, officer):
    body = estate_page(client, estate.user("operator"))
    assert "Executive Person" not in body and "555 0100" not in body
    assert f'data-reveal-site="{estate.sites[0].id}"' in body
    assert 'data-reveal-via="estate_page"' in body and "watchfloor/js/reveal.js" in body
    # only the operator's client's sites are listed, so only they have a button
    assert f'data-reveal-site="{estate.sites[2].id}"' not in body


@pytest.mark.parametrize("role", ["executive", "viewer", "supervisor"])
def test_no_button_without_the_capability_or_when_nothing_is_masked(client, estate, officer, role):
    body = estate_page(client, estate.user(role))
    assert "data-reveal-site" not in body and "reveal.js" not in body
