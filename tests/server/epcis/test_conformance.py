"""GS1's EPCIS 2.0 example documents are captured and read back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from server.services.event_rights import hash_problem

EXAMPLES = "epcis/gs1-EPCIS/JSON"


def _example_names() -> list[str]:
    from tests.conftest import _vectors_root

    root = _vectors_root() / EXAMPLES
    if not root.is_dir():
        return ["(vectors absent)"]
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.jsonld"))


def _without_forged_ids(data: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The document with every event-hash ``eventID`` that is not the event's hash
    removed (the server then computes it), and whether there was one."""
    context = data.get("@context")
    events, forged = [], False
    for event in data["epcisBody"]["eventList"]:
        if hash_problem(event, context=context) is not None:
            event = {k: v for k, v in event.items() if k != "eventID"}
            forged = True
        events.append(event)
    return {**data, "epcisBody": {**data["epcisBody"], "eventList": events}}, forged


@pytest.mark.parametrize("name", _example_names())
def test_gs1_example_is_captured(client: TestClient, vectors_dir: Path, name: str) -> None:
    data = json.loads((vectors_dir / EXAMPLES / name).read_text(encoding="utf-8"))
    response = client.post("/epcis/capture", json=data)
    if data.get("type") != "EPCISDocument":
        assert response.status_code == 400
        return
    honest, forged = _without_forged_ids(data)
    if forged:
        # The examples' event IDs are placeholders, not their hashes: refused as such.
        assert response.status_code == 400, response.text
        assert "is not the event's hash" in response.json()["detail"]
        response = client.post("/epcis/capture", json=honest)
    assert response.status_code == 202, response.text
    events = honest["epcisBody"]["eventList"]
    stored = client.get("/epcis/events", params={"perPage": "1000"}).json()
    found = stored["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert len(found) == len({e.get("eventID", json.dumps(e, sort_keys=True)) for e in events})
