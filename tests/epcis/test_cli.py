from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import app
from lineside.epcis import event_hash
from lineside.epcis.validate import SCHEMA_ENV
from tests.epcis.conftest import LINE, UNIT

EVENT: dict[str, object] = {
    "type": "ObjectEvent",
    "eventTime": "2024-05-01T08:30:15+07:00",
    "eventTimeZoneOffset": "+07:00",
    "action": "OBSERVE",
    "epcList": [UNIT],
    "readPoint": {"id": LINE},
}


def _write(tmp_path: Path, *events: dict[str, object]) -> Path:
    path = tmp_path / "doc.jsonld"
    doc = {
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2024-05-01T01:30:00Z",
        "epcisBody": {"eventList": list(events)},
    }
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture(autouse=True)
def _no_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SCHEMA_ENV, raising=False)


def test_validate_valid(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["epcis", "validate", str(_write(tmp_path, EVENT))])
    assert result.exit_code == 0, result.output
    assert "valid" in result.output


def test_validate_invalid_lists_paths(tmp_path: Path) -> None:
    path = _write(tmp_path, EVENT, {**EVENT, "bizStep": "packng"})
    result = CliRunner().invoke(app, ["epcis", "validate", str(path), "--json"])
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    assert payload["valid"] is False
    assert payload["issues"][0]["path"] == "epcisBody.eventList[1].bizStep"


def test_validate_bad_file_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    result = CliRunner().invoke(app, ["epcis", "validate", str(bad)])
    assert result.exit_code == 2
    assert "not valid JSON" in result.output


def test_hash_prints_one_line_per_event(tmp_path: Path) -> None:
    other: dict[str, object] = {**EVENT, "action": "ADD"}
    result = CliRunner().invoke(app, ["epcis", "hash", str(_write(tmp_path, EVENT, other))])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"{event_hash(EVENT)} ObjectEvent",
        f"{event_hash(other)} ObjectEvent",
    ]


def test_hash_prehash_and_json(tmp_path: Path) -> None:
    path = _write(tmp_path, EVENT)
    result = CliRunner().invoke(app, ["epcis", "hash", str(path), "--prehash"])
    assert result.stdout.splitlines()[1].startswith("  eventType=ObjectEvent")
    result = CliRunner().invoke(app, ["epcis", "hash", str(path), "--json"])
    assert json.loads(result.stdout) == [{"hash": event_hash(EVENT), "type": "ObjectEvent"}]


def test_hash_of_a_non_document_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text("{}")
    result = CliRunner().invoke(app, ["epcis", "hash", str(path)])
    assert result.exit_code == 2
    assert "epcisBody" in result.output


XML_DOC = (
    '<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:2" schemaVersion="2.0" '
    'creationDate="2024-05-01T01:30:00Z"><EPCISBody><EventList><ObjectEvent>'
    "<eventTime>2024-05-01T08:30:15+07:00</eventTime>"
    "<eventTimeZoneOffset>+07:00</eventTimeZoneOffset>"
    f"<epcList><epc>{UNIT}</epc></epcList><action>OBSERVE</action>"
    f"<readPoint><id>{LINE}</id></readPoint>"
    "</ObjectEvent></EventList></EPCISBody></epcis:EPCISDocument>"
)


def _write_xml(tmp_path: Path, text: str = XML_DOC) -> Path:
    path = tmp_path / "doc.xml"
    path.write_text(text)
    return path


def test_hash_of_xml_equals_hash_of_json(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["epcis", "hash", str(_write_xml(tmp_path)), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [{"hash": event_hash(EVENT), "type": "ObjectEvent"}]


def test_validate_xml_reports_json_ld_paths(tmp_path: Path) -> None:
    path = _write_xml(
        tmp_path,
        XML_DOC.replace(
            "<action>OBSERVE</action>", "<action>ADD</action><bizStep>packng</bizStep>"
        ),
    )
    result = CliRunner().invoke(app, ["epcis", "validate", str(path), "--json"])
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    assert payload["binding"] == "xml"
    assert payload["issues"][0]["path"] == "epcisBody.eventList[0].bizStep"


def test_validate_malformed_xml_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["epcis", "validate", str(_write_xml(tmp_path, "<a><b></a>"))])
    assert result.exit_code == 2
    assert "not well-formed XML" in result.output


def test_validate_xml_against_the_xsd(tmp_path: Path, vectors_dir: Path) -> None:
    xsd = vectors_dir / "epcis" / "gs1-EPCIS" / "XSD"
    good = CliRunner().invoke(
        app, ["epcis", "validate", str(_write_xml(tmp_path)), "--xsd", str(xsd)]
    )
    assert good.exit_code == 0, good.output
    assert "xsd" in good.output
    bad_doc = XML_DOC.replace("<action>OBSERVE</action>", "").replace(
        "</epcList>", "</epcList><action>OBSERVE</action><colour>red</colour>"
    )
    bad = CliRunner().invoke(
        app, ["epcis", "validate", str(_write_xml(tmp_path, bad_doc)), "--xsd", str(xsd), "--json"]
    )
    assert bad.exit_code == 1
    assert [i["check"] for i in json.loads(bad.stdout)["issues"]] == ["rules", "xsd"]


def test_convert_xml_to_json_and_back(tmp_path: Path) -> None:
    runner = CliRunner()
    out_json = tmp_path / "out.jsonld"
    result = runner.invoke(
        app, ["epcis", "convert", str(_write_xml(tmp_path)), "--to", "json", "-o", str(out_json)]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out_json.read_text())
    assert data["epcisBody"]["eventList"][0]["epcList"] == [UNIT]
    result = runner.invoke(app, ["epcis", "convert", str(out_json), "--to", "xml"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("<?xml")
    assert f"<epc>{UNIT}</epc>" in result.stdout


def test_convert_needs_a_known_target(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["epcis", "convert", str(_write(tmp_path, EVENT)), "--to", "csv"]
    )
    assert result.exit_code == 2
