"""GS1-Conformant resolver: one test per conformance statement of the standard (1.0 and
1.2 statements, as GS1's resolver test suite checks them), then the Lineside rules:
GTIN padding, SSCC and GLN keys, qualifier order, mismatches and what counts as a scan."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from lineside.gs1 import GS1Message, compress_digital_link, to_digital_link
from lineside.gs1.linters import CSET82
from lineside.gs1.message import ElementString
from server.db.models import ConsumerScan, Event, EventEpc, Facility
from tests.server.api.conftest import DOMAIN, GTIN, build_world

UNIT_PATH = f"/01/{GTIN}/10/L2026/21/S1"
UNIT = f"{DOMAIN}{UNIT_PATH}"
PAGE = f"{DOMAIN}/p{UNIT_PATH}"
SSCC = "089345678912345677"
GLN = "8934567000017"
IANA_TYPES = {"text/html", "application/json", "application/linkset+json"}


@pytest.fixture
def world(client: TestClient, session_factory: sessionmaker[Session]) -> TestClient:
    build_world(session_factory)
    return client


def get(client: TestClient, url: str, **headers: str) -> httpx.Response:
    answer: httpx.Response = client.get(url, headers=headers, follow_redirects=False)
    return answer


def links_of(answer: httpx.Response) -> list[dict[str, str]]:
    """The Link header as a list of {href, rel, title, type...}."""
    found = []
    for value in answer.headers.get("link", "").split(", <"):
        href = value.lstrip("<").split(">", 1)[0]
        params = dict(re.findall(r'([a-z*]+)="([^"]*)"', value))
        found.append({"href": href, **params})
    return found


def linkset_entry(answer: httpx.Response) -> dict[str, Any]:
    (entry,) = answer.json()["linkset"]
    assert isinstance(entry, dict)
    return entry


def scans(session_factory: sessionmaker[Session]) -> int:
    with session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(ConsumerScan)) or 0)


# --------------------------------------------------------------------------- HTTP


def test_shall_support_http_get_head_and_options_requests(world: TestClient) -> None:
    got = get(world, UNIT)
    head = world.head(UNIT, follow_redirects=False)
    assert got.status_code == head.status_code == 307
    assert head.headers["location"] == got.headers["location"]
    assert head.content == b""
    options = world.options(UNIT)
    assert options.status_code == 204
    assert set(options.headers["allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}


def test_shall_support_cors(world: TestClient) -> None:
    assert get(world, UNIT).headers["access-control-allow-origin"] == "*"
    assert "OPTIONS" in get(world, UNIT).headers["access-control-allow-methods"]
    preflight = world.options(
        UNIT, headers={"Origin": "https://app.example", "Access-Control-Request-Method": "GET"}
    )
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "Link" in preflight.headers["access-control-expose-headers"]


# --------------------------------------------------------------------------- compression


def test_shall_be_able_to_decompress_a_uri_to_generate_a_gs1_digital_link_uri(
    world: TestClient,
) -> None:
    uncompressed = f"{UNIT}?17=271231"
    compressed = compress_digital_link(uncompressed)
    plain, packed = get(world, uncompressed), get(world, compressed)
    assert packed.status_code == plain.status_code == 307
    assert packed.headers["location"] == plain.headers["location"]
    assert get(world, f"{DOMAIN}/favicon.ico").status_code == 404


def test_a_partly_compressed_uri_resolves_as_its_uncompressed_form(world: TestClient) -> None:
    # (21)S1 and (17)271231 compressed after an uncompressed GTIN.
    bits = "00100001" + "011" + "00010" + "010010" + "110101" + "00010111" + f"{271231:020b}"
    bits += "0" * (-len(bits) % 6)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    segment = "".join(alphabet[int(bits[i : i + 6], 2)] for i in range(0, len(bits), 6))
    answer = get(world, f"{DOMAIN}/01/{GTIN}/{segment}")
    assert answer.status_code == 307
    assert answer.headers["location"] == f"{DOMAIN}/p/01/{GTIN}/21/S1?17=271231"


def test_if_handling_a_compressed_request_uri_it_shall_expose_the_uncompressed_uri_as_owl_same_as(
    world: TestClient,
) -> None:
    answer = get(world, compress_digital_link(f"{UNIT}?17=271231"))
    same = [link for link in links_of(answer) if link.get("rel") == "owl:sameAs"]
    assert [link["href"] for link in same] == [f"{UNIT}?17=271231"]


def test_the_linkset_subject_shall_be_the_uncompressed_uri(world: TestClient) -> None:
    answer = get(world, compress_digital_link(UNIT) + "?linkType=linkset")
    assert linkset_entry(answer)["anchor"] == UNIT


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("path", "detail"),
    [
        (f"/01/{GTIN[:-1]}1/21/S1", "check digit"),
        (f"{UNIT_PATH}/foo", "Digital Link"),
        ("/01/ABC", "(01)"),
    ],
)
def test_shall_extract_and_syntactically_validate_the_uri_and_report_errors_with_400(
    world: TestClient, path: str, detail: str
) -> None:
    answer = get(world, f"{DOMAIN}{path}")
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/problem+json"
    assert detail in answer.json()["detail"]


def test_shall_not_use_a_200_ok_response_code_with_a_resource_that_indicates_an_error(
    world: TestClient,
) -> None:
    unknown = "/01/09506000134352"
    for accept in ("text/html", "application/json", "application/linkset+json"):
        assert get(world, f"{DOMAIN}{unknown}", Accept=accept).status_code == 404
    assert (
        get(world, f"{DOMAIN}{unknown}", Accept="text/html")
        .headers["content-type"]
        .startswith("text/html")
    )
    assert get(world, f"{DOMAIN}/01/12").status_code == 400


# --------------------------------------------------------------------------- linksets


@pytest.mark.parametrize("link_type", ["linkset", "all"])
def test_shall_respond_to_linktype_linkset_with_the_list_of_links_as_rfc_9264(
    world: TestClient, link_type: str
) -> None:
    answer = get(world, f"{UNIT}?linkType={link_type}")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/linkset+json"
    entry = linkset_entry(answer)
    assert entry["anchor"] == UNIT
    assert entry["https://gs1.org/voc/pip"][0]["href"] == PAGE


def test_shall_respond_to_an_accept_header_of_application_linkset_json_with_the_linkset(
    world: TestClient,
) -> None:
    answer = get(world, UNIT, Accept="application/linkset+json")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/linkset+json"


def test_the_list_shall_be_available_as_json_and_should_be_as_json_ld_by_content_negotiation(
    world: TestClient,
) -> None:
    as_json = get(world, f"{UNIT}?linkType=all", Accept="application/json")
    assert as_json.headers["content-type"] == "application/json"
    assert as_json.headers["vary"] == "Accept"
    as_ld = get(world, f"{UNIT}?linkType=all", Accept="application/ld+json")
    assert as_ld.headers["content-type"] == "application/ld+json"
    assert as_ld.json()["@context"].startswith("https://ref.gs1.org/standards/resolver/")


def test_should_include_a_link_header_to_a_json_ld_context_for_a_linkset(
    world: TestClient,
) -> None:
    rels = [link.get("rel") for link in links_of(get(world, f"{UNIT}?linkType=linkset"))]
    assert "http://www.w3.org/ns/json-ld#context" in rels


def test_links_of_each_level_up_to_the_primary_key_shall_be_included(world: TestClient) -> None:
    entry = linkset_entry(get(world, f"{UNIT}?linkType=linkset"))
    # The unit's own page, and the product's (GTIN-level) certification.
    assert entry["https://gs1.org/voc/pip"][0]["href"] == PAGE
    assert entry["https://gs1.org/voc/certificationInfo"][0]["title"] == "OCOP-Mật ong bạc hà"


def test_all_links_shall_include_the_target_url_the_link_type_and_a_title(
    world: TestClient,
) -> None:
    entry = linkset_entry(get(world, f"{UNIT}?linkType=linkset"))
    for rel, targets in entry.items():
        if rel in ("anchor", "itemDescription"):
            continue
        assert rel.startswith("https://gs1.org/voc/")
        for target in targets:
            assert target["href"]
            assert target["title"]
    for link in links_of(get(world, UNIT)):
        assert link["href"].startswith("http")
        assert link["rel"]
        assert link["title"]


def test_a_media_type_of_a_link_shall_be_one_defined_by_iana(world: TestClient) -> None:
    entry = linkset_entry(get(world, f"{UNIT}?linkType=linkset"))
    types = {
        str(target["type"])
        for rel, targets in entry.items()
        if rel not in ("anchor", "itemDescription")
        for target in targets
        if "type" in target
    }
    assert types <= IANA_TYPES


def test_links_typed_default_link_shall_also_be_described_by_a_descriptive_link_type(
    world: TestClient,
) -> None:
    entry = linkset_entry(get(world, f"{UNIT}?linkType=linkset"))
    (default,) = entry["https://gs1.org/voc/defaultLink"]
    assert set(default) == {"href", "title"}  # no optional attributes
    assert default["href"] in {target["href"] for target in entry["https://gs1.org/voc/pip"]}


def test_should_expose_a_link_to_the_linkset_in_a_link_header_even_when_redirecting(
    world: TestClient,
) -> None:
    answer = get(world, UNIT)
    assert answer.status_code == 307
    (to_linkset,) = [link for link in links_of(answer) if link.get("rel") == "linkset"]
    assert to_linkset["href"] == f"{UNIT}?linkType=linkset"
    assert to_linkset["type"] == "application/linkset+json"


# --------------------------------------------------------------------------- redirection


def test_shall_recognise_one_link_as_the_default_and_redirect_to_it(world: TestClient) -> None:
    answer = get(world, UNIT)
    assert answer.status_code == 307
    assert answer.headers["location"] == PAGE


def test_shall_redirect_to_the_requested_link_type_if_available(world: TestClient) -> None:
    for link in links_of(get(world, UNIT)):
        if link["rel"].startswith("https://gs1.org/voc/"):
            answer = get(world, f"{UNIT}?linkType={link['rel']}")
            assert answer.status_code == 307
            assert answer.headers["location"].split("?")[0] == link["href"].split("?")[0]
    assert get(world, f"{UNIT}?linkType=gs1:pip").headers["location"].startswith(PAGE)


def test_shall_return_404_if_a_link_of_the_requested_type_is_not_available(
    world: TestClient,
) -> None:
    answer = get(world, f"{UNIT}?linkType=gs1:epil")
    assert answer.status_code == 404
    assert "gs1:pip" in answer.json()["detail"]


def test_shall_pass_on_all_key_value_pairs_of_the_query_string_when_redirecting(
    world: TestClient,
) -> None:
    answer = get(world, f"{UNIT}?17=271231&foo=bar")
    assert answer.headers["location"] == f"{PAGE}?17=271231&foo=bar"


def test_shall_recognise_the_gs1_web_vocabulary_namespace(world: TestClient) -> None:
    for spelling in ("gs1:pip", "https://gs1.org/voc/pip", "https://ref.gs1.org/voc/pip"):
        assert get(world, f"{UNIT}?linkType={spelling}").headers["location"] == (
            f"{PAGE}?linkType={spelling}"
        )


def test_shall_provide_a_resolver_description_file_at_well_known_gs1resolver(
    world: TestClient,
) -> None:
    answer = world.get("/.well-known/gs1resolver")
    assert answer.status_code == 200
    description = answer.json()
    assert description["resolverRoot"] == DOMAIN
    assert set(description["supportedPrimaryKeys"]) == {"01", "00", "414"}
    assert description["supportedLinkType"] == [
        {"namespace": "https://gs1.org/voc/", "prefix": "gs1:"}
    ]
    assert answer.headers["access-control-allow-origin"] == "*"


def test_should_tolerate_trailing_slashes(world: TestClient) -> None:
    plain, slashed = get(world, UNIT), get(world, f"{UNIT}/")
    assert slashed.status_code == plain.status_code == 307
    assert slashed.headers["location"] == plain.headers["location"]


def test_for_primary_keys_with_key_qualifiers_all_key_qualifiers_shall_be_supported(
    world: TestClient,
) -> None:
    for path in (f"/01/{GTIN}", f"/01/{GTIN}/10/L2026", f"/01/{GTIN}/21/S1", UNIT_PATH):
        assert get(world, f"{DOMAIN}{path}").headers["location"] == f"{DOMAIN}/p{path}"
    assert get(world, f"{DOMAIN}/01/{GTIN}/22/V1/10/L2026").status_code == 307


# --------------------------------------------------------------------------- Lineside rules


def test_key_qualifiers_out_of_order_are_a_400_naming_the_order(world: TestClient) -> None:
    answer = get(world, f"{DOMAIN}/01/{GTIN}/21/S1/10/L2026")
    assert answer.status_code == 400
    assert "not valid after AI (01)" in answer.json()["detail"]


def test_a_gtin_13_is_padded_to_gtin_14(world: TestClient) -> None:
    answer = get(world, f"{DOMAIN}/01/{GTIN[1:]}/21/S1")
    assert answer.status_code == 307
    assert answer.headers["location"] == f"{DOMAIN}/p/01/{GTIN}/21/S1"


@pytest.mark.parametrize(
    ("short", "padded"), [("96385074", "00000096385074"), ("614141000036", "00614141000036")]
)
def test_gtin_8_and_12_are_padded_to_gtin_14(client: TestClient, short: str, padded: str) -> None:
    answer = get(client, f"{DOMAIN}/01/{short}", Accept="application/json")
    assert answer.status_code == 404
    assert f"(01){padded}" in answer.json()["detail"]


def test_sscc_resolves_to_its_traceability_link(
    world: TestClient, session_factory: sessionmaker[Session]
) -> None:
    assert get(world, f"{DOMAIN}/00/{SSCC}", Accept="application/json").status_code == 404
    with session_factory() as session, session.begin():
        event_id = "ni:///sha-256;" + "c" * 64 + "?ver=CBV2.0"
        parent = f"https://id.gs1.org/00/{SSCC}"
        session.add(
            Event(
                event_id=event_id,
                type="AggregationEvent",
                action="ADD",
                biz_step="https://ref.gs1.org/cbv/BizStep-packing",
                event_time=datetime(2026, 3, 1, 9, tzinfo=UTC),
                document={"type": "AggregationEvent", "parentID": parent},
            )
        )
        session.flush()
        session.add(EventEpc(event_id=event_id, epc=parent, role="parent"))
    answer = get(world, f"{DOMAIN}/00/{SSCC}")
    assert answer.status_code == 307
    assert answer.headers["location"] == f"{DOMAIN}/trace/(00){SSCC}"
    linkset = linkset_entry(get(world, f"{DOMAIN}/00/{SSCC}?linkType=linkset"))
    assert linkset["anchor"] == f"{DOMAIN}/00/{SSCC}"


def test_gln_resolves_to_its_location_information(
    world: TestClient, session_factory: sessionmaker[Session]
) -> None:
    assert get(world, f"{DOMAIN}/414/{GLN}", Accept="application/json").status_code == 404
    with session_factory() as session, session.begin():
        session.execute(update(Facility).values(gln=GLN))
        facility_id = session.scalar(select(Facility.id))
    answer = get(world, f"{DOMAIN}/414/{GLN}")
    assert answer.status_code == 307
    assert answer.headers["location"] == f"{DOMAIN}/facilities/{facility_id}"


def test_a_wrong_lot_on_a_serialised_code_is_a_mismatch_not_genuine(world: TestClient) -> None:
    page = world.get(f"{DOMAIN}/01/{GTIN}/10/OTHER/21/S1", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert 'data-status="mismatch"' in page.text
    assert 'data-status="genuine"' not in page.text


def test_a_wrong_serial_is_unknown_not_genuine(world: TestClient) -> None:
    page = world.get(f"{DOMAIN}/01/{GTIN}/10/L2026/21/NOPE", headers={"Accept": "text/html"})
    assert page.status_code == 404
    assert 'data-status="genuine"' not in page.text


def test_machine_lookups_are_not_consumer_scans(
    world: TestClient, session_factory: sessionmaker[Session]
) -> None:
    get(world, UNIT)
    world.head(UNIT, follow_redirects=False)
    get(world, f"{UNIT}?linkType=linkset")
    get(world, UNIT, Accept="application/json")
    get(world, compress_digital_link(UNIT))
    world.options(UNIT)
    assert scans(session_factory) == 0
    world.get(UNIT, headers={"Accept": "text/html"})  # a browser follows to the page
    assert scans(session_factory) == 1


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    lot=st.text(alphabet=CSET82, min_size=1, max_size=20),
    serial=st.text(alphabet=CSET82, min_size=1, max_size=20),
)
@example(lot=".", serial="..")  # dot segments, which clients drop from a path unless escaped
def test_any_lot_and_serial_redirect_to_their_page_compressed_or_not(
    world: TestClient, lot: str, serial: str
) -> None:
    code = GS1Message(
        (ElementString("01", GTIN), ElementString("10", lot), ElementString("21", serial))
    )
    uri = to_digital_link(code, stem=DOMAIN)
    plain = get(world, uri)
    assert plain.status_code == 307
    assert plain.headers["location"] == DOMAIN + "/p" + uri.removeprefix(DOMAIN)
    assert get(world, compress_digital_link(uri)).headers["location"] == plain.headers["location"]
