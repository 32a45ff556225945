"""Validation of EPCIS 2.0 JSON-LD documents: structure, CBV vocabulary, the standard's
rules, and (when the official schema file is at hand) the EPCIS 2.0 JSON Schema.

The GS1 schema file carries no open licence, so it is not bundled: pass its path, or set
``LINESIDE_EPCIS_SCHEMA``. The report says which checks ran.

>>> report = check_document({"type": "EPCISDocument", "schemaVersion": "2.0",
...     "creationDate": "2024-05-01T00:00:00Z", "epcisBody": {"eventList": [
...         {"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "packng",
...          "eventTime": "2024-05-01T00:00:00Z", "eventTimeZoneOffset": "+00:00"}]}})
>>> for issue in report.issues:
...     print(issue)
epcisBody.eventList[0].bizStep: 'packng' is not a CBV 2.0 business step
epcisBody.eventList[0]: an ObjectEvent needs a non-empty epcList, quantityList or sensor data
>>> report.checks
('structure', 'vocabulary', 'rules')
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from lineside.epcis.models import _EVENT_TYPES, EPCISDocument, _path
from lineside.errors import EPCISError

__all__ = [
    "SCHEMA_ENV",
    "EPCISSchema",
    "ValidationIssue",
    "ValidationReport",
    "check_document",
    "validate_document",
]

#: Environment variable naming the EPCIS 2.0 JSON Schema file.
SCHEMA_ENV = "LINESIDE_EPCIS_SCHEMA"


@dataclass(frozen=True)
class ValidationIssue:
    """One problem: where (a JSON path) and what, and which check found it."""

    path: str
    message: str
    check: str = "structure"

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass(frozen=True)
class ValidationReport:
    """The issues found and the names of the checks that ran."""

    issues: tuple[ValidationIssue, ...]
    checks: tuple[str, ...]

    @property
    def valid(self) -> bool:
        """True when no check found a problem."""
        return not self.issues


class EPCISSchema:
    """The EPCIS 2.0 JSON Schema, loaded once and reused (Draft 7 + format checks)."""

    def __init__(self, path: Path) -> None:
        import jsonschema

        try:
            schema = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise EPCISError(f"schema {path}: cannot be read as JSON: {exc}") from exc
        self.path = path
        self._validator = jsonschema.Draft7Validator(
            schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
        )

    def issues(self, data: object) -> list[ValidationIssue]:
        """Schema violations of ``data``, with JSON paths, in document order."""
        found = []
        for error in sorted(self._validator.iter_errors(data), key=lambda e: list(e.path)):
            path = _path(tuple(error.absolute_path)) or "(root)"
            found.append(ValidationIssue(path, error.message, "schema"))
        return found


def _pydantic_issues(exc: ValidationError, prefix: str) -> list[ValidationIssue]:
    issues = []
    for error in exc.errors():
        where = _path(tuple(error["loc"]))
        where = f"{prefix}.{where}" if prefix and where else (prefix or where or "(root)")
        message = "required field is missing" if error["type"] == "missing" else error["msg"]
        check = "vocabulary" if error["type"] == "cbv_term" else "structure"
        issues.append(ValidationIssue(where, message, check))
    return issues


def _nonempty(event: Mapping[str, Any], *keys: str) -> bool:
    return any(isinstance(event.get(k), list) and event[k] for k in keys)


def _rule_issues(event: Mapping[str, Any], where: str) -> list[ValidationIssue]:
    """The rules EPCIS 2.0 states in prose (section 7.4) that no schema captures."""
    found: list[str] = []
    kind, action = event.get("type"), event.get("action")
    # EPCIS 2.0 allows an ObjectEvent about no object when it carries sensor data only.
    if kind == "ObjectEvent" and not _nonempty(
        event, "epcList", "quantityList", "sensorElementList"
    ):
        found.append("an ObjectEvent needs a non-empty epcList, quantityList or sensor data")
    if kind in ("AggregationEvent", "AssociationEvent"):
        if action in ("ADD", "DELETE") and not event.get("parentID"):
            found.append(f"an {kind} with action {action} needs a parentID")
        if action == "ADD" and not _nonempty(event, "childEPCs", "childQuantityList"):
            found.append(f"an {kind} with action ADD needs childEPCs or childQuantityList")
    if kind == "TransactionEvent" and not _nonempty(event, "bizTransactionList"):
        found.append("a TransactionEvent needs a non-empty bizTransactionList")
    if kind == "TransformationEvent" and not event.get("transformationID"):
        if not _nonempty(event, "inputEPCList", "inputQuantityList"):
            found.append("a TransformationEvent without transformationID needs an input")
        if not _nonempty(event, "outputEPCList", "outputQuantityList"):
            found.append("a TransformationEvent without transformationID needs an output")
    ilmd = event.get("ilmd")
    if ilmd is not None:
        if kind == "ObjectEvent" and action != "ADD":
            found.append(f"ilmd is only allowed with action ADD, not {action}")
        if isinstance(ilmd, Mapping):
            found.extend(
                f"ilmd.{key}: ILMD field names need a namespace prefix (cbvmda:lotNumber)"
                for key in ilmd
                if ":" not in key
            )
    for key in event:
        if key not in _KNOWN_KEYS and ":" not in key and not key.startswith("@"):
            found.append(f"{key}: unknown field (extension fields need a namespace prefix)")
    for list_name, side in (("sourceList", "source"), ("destinationList", "destination")):
        entries = event.get(list_name)
        for index, entry in enumerate(entries if isinstance(entries, list) else []):
            if isinstance(entry, Mapping) and not entry.get(side):
                found.append(f"{list_name}[{index}]: needs a {side}")
    return [_located(where, text) for text in found]


def _located(where: str, text: str) -> ValidationIssue:
    head, sep, rest = text.partition(": ")
    if sep and " " not in head:  # the message starts with a field path
        return ValidationIssue(f"{where}.{head}", rest, "rules")
    return ValidationIssue(where, text, "rules")


_KNOWN_KEYS = frozenset(
    field.alias or name for cls in _EVENT_TYPES.values() for name, field in cls.model_fields.items()
)


def _resolve_schema(schema: EPCISSchema | Path | str | None, use_env: bool) -> EPCISSchema | None:
    if isinstance(schema, EPCISSchema):
        return schema
    if schema is None and use_env:
        schema = os.environ.get(SCHEMA_ENV) or None
    return EPCISSchema(Path(schema)) if schema is not None else None


def check_document(
    data: object,
    *,
    schema: EPCISSchema | Path | str | None = None,
    use_env: bool = True,
) -> ValidationReport:
    """Validate an EPCIS 2.0 document (parsed JSON); see the module docstring.

    ``schema`` is the EPCIS JSON Schema file (or a loaded :class:`EPCISSchema`); without
    it, ``$LINESIDE_EPCIS_SCHEMA`` is used when set (and ``use_env`` is true).
    """
    checks = ["structure", "vocabulary", "rules"]
    issues: list[ValidationIssue] = []
    loaded = _resolve_schema(schema, use_env)
    if not isinstance(data, Mapping):
        issues.append(ValidationIssue("(root)", "an EPCIS document must be a JSON object"))
        return ValidationReport(tuple(issues), tuple(checks))
    try:
        document = EPCISDocument.model_validate(dict(data))
    except ValidationError as exc:
        issues.extend(_pydantic_issues(exc, ""))
        document = None
    if document is not None:
        base, events = _events(data)
        if events is None:
            issues.append(ValidationIssue("epcisBody", "needs an eventList (or queryResults)"))
        for index, event in enumerate(events or []):
            where = f"{base}[{index}]"
            if not isinstance(event, Mapping):
                issues.append(ValidationIssue(where, "an event must be a JSON object"))
                continue
            kind = event.get("type")
            # A non-string type (a list, say) is not hashable: no dict lookup for it.
            cls = _EVENT_TYPES.get(kind) if isinstance(kind, str) else None
            if cls is None:
                issues.append(
                    ValidationIssue(f"{where}.type", f"{event.get('type')!r} is not an event type")
                )
                continue
            try:
                cls.model_validate(dict(event))
            except ValidationError as exc:
                issues.extend(_pydantic_issues(exc, where))
            issues.extend(_rule_issues(event, where))
    if loaded is not None:
        checks.append(f"schema ({loaded.path.name})")
        issues.extend(loaded.issues(data))
    return ValidationReport(tuple(issues), tuple(checks))


def _events(data: Mapping[str, Any]) -> tuple[str, list[Any] | None]:
    body = data.get("epcisBody")
    if not isinstance(body, Mapping):
        return "epcisBody", None
    if isinstance(body.get("eventList"), list):
        return "epcisBody.eventList", body["eventList"]
    results = body.get("queryResults")
    if isinstance(results, Mapping) and isinstance(results.get("resultsBody"), Mapping):
        listed = results["resultsBody"].get("eventList", [])
        return "epcisBody.queryResults.resultsBody.eventList", (
            listed if isinstance(listed, list) else None
        )
    return "epcisBody.eventList", None


def validate_document(
    data: object, *, schema: EPCISSchema | Path | str | None = None
) -> list[ValidationIssue]:
    """The problems of an EPCIS 2.0 document; an empty list means valid.

    Same checks as :func:`check_document`, which also says which checks ran.
    """
    return list(check_document(data, schema=schema).issues)
