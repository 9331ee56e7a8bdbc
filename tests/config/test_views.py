"""Newcomer paths: /api/v1/ answers with an index, and a board address the site cannot answer gets the
site's error page with the sentence saying what is accepted."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_the_api_root_is_an_index_whose_links_answer():
    response = Client().get("/api/v1/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    links = response.json()
    assert links["challenges"].endswith("/api/v1/challenges/") and "schema" in links
    assert Client().get(links["challenges"], HTTP_ACCEPT="application/json").status_code == 200


@pytest.mark.parametrize("query", ["?dataset=nope", "?sort=MSVD:bogus"])
@pytest.mark.parametrize("kind", ["leaderboard/", "leaderboard/embed/"])
def test_a_bad_board_address_gets_the_site_error_page(phase, query, kind):
    response = Client().get(f"/c/video-pentathlon/val/{kind}{query}")
    body = response.content.decode()
    assert response.status_code == 400 and response["Content-Type"].startswith("text/html")
    assert '<header class="topbar">' in body and 'data-role="bad-request"' in body
    assert "MSRVTT" in body or "use overall or DATASET:METRIC" in body
    assert 'href="/c/video-pentathlon/val/leaderboard/"' in body
