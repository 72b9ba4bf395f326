"""The dashboard's Experiments page: the list, and the ticked experiments compared."""

from __future__ import annotations

import json
import re
from pathlib import Path

from fastapi.testclient import TestClient

from himo.ui.app import create_app
from himo.ui.server import open_source
from tests.conftest import Himo
from tests.ui.conftest import LOOPBACK


def test_experiments_page_lists_and_compares(exp_repo: Path) -> None:
    himo = Himo(exp_repo)
    himo("exp", "run", "-S", "train.alpha=2,3", "-n", "ui")
    store, repo = open_source(None, exp_repo)
    try:
        with TestClient(create_app(store, repo), base_url=LOOPBACK) as client:
            page = client.get("/experiments").text
            assert 'href="/experiments" class="on"' in page
            assert all(f'data-name="ui-{i}"' in page for i in (1, 2))
            compared = client.get("/experiments", params={"exp": ["ui-1", "ui-2"]}).text
            score = re.search(r'data-key="metrics.json:score" class=differ>(.*?)</tr>', compared, re.S)
            assert score and "4" in score.group(1) and "6" in score.group(1) and "(+2)" in score.group(1)
            doc = client.get("/api/experiments", params={"exp": ["ui-2"]}).json()
            assert doc["chosen"] == ["ui-2"] and [r["name"] for r in doc["rows"]] == ["ui-2", "ui-1"]
            assert {p["key"]: p["values"] for p in doc["params"]}["train.alpha"] == [3]
            empty = json.loads(client.get("/api/experiments", params={"exp": ["nope"]}).text)
            assert empty["chosen"] == [] and empty["params"] == []
    finally:
        store.close()
