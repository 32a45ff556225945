"""GS1's EPCIS 2.0 example documents are captured and read back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

EXAMPLES = "epcis/gs1-EPCIS/JSON"


def _example_names() -> list[str]:
    from tests.conftest import _vectors_root

    root = _vectors_root() / EXAMPLES
    if not root.is_dir():
        return ["(vectors absent)"]
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.jsonld"))


@pytest.mark.parametrize("name", _example_names())
def test_gs1_example_is_captured(client: TestClient, vectors_dir: Path, name: str) -> None:
    data = json.loads((vectors_dir / EXAMPLES / name).read_text(encoding="utf-8"))
    response = client.post("/epcis/capture", json=data)
    if data.get("type") != "EPCISDocument":
        assert response.status_code == 400
        return
    assert response.status_code == 202, response.text
    events = data["epcisBody"]["eventList"]
    stored = client.get("/epcis/events", params={"perPage": "1000"}).json()
    found = stored["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert len(found) == len({e.get("eventID", json.dumps(e, sort_keys=True)) for e in events})
