"""Message codes: what the engine says, as a code and parameters the screen translates.

The engine, its alarms and its errors speak English (logs, the MQTT contract, the audit
trail). The operator screen shows none of that text: each message is matched here to a
code with parameters, and the page words the code in the operator's language. A message
no pattern knows still gets a code (``unknown``, or the alarm's own code), never raw text.

>>> describe("unit printer: paper out")
Message(code='printer_fault', params={'fault': 'paper_out'})
>>> describe("12 rejects in a row (last: no read within the verify window)")
Message(code='too_many_rejects', params={'count': '12', 'last': 'no_read'})
>>> describe("something new", fallback="alarm_serials_low").code
'alarm_serials_low'
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Message:
    """A message as a code and its parameters (values are codes or plain data)."""

    code: str
    params: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, object]:
        return {"code": self.code, "params": self.params}


#: Printer faults as the drivers and simulators name them.
_FAULTS = {
    "paper out": "paper_out",
    "paper_out": "paper_out",
    "ribbon out": "ribbon_out",
    "ribbon_out": "ribbon_out",
    "head open": "head_open",
    "head_open": "head_open",
    "paused": "paused",
    "printer paused": "paused",
    "offline": "offline",
}


def fault_code(fault: str) -> str:
    """A printer fault's code (``other`` for a fault the screen has no word for).

    >>> fault_code("Paper out"), fault_code("connection refused")
    ('paper_out', 'other')
    """
    text = fault.strip().lower()
    for name, code in _FAULTS.items():
        if text == name or text.startswith(name):
            return code
    return "other"


# (pattern, code, {group: kind}); kind "fault" and "reason" translate nested text.
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE | re.DOTALL), code)
    for pattern, code in (
        # verdicts and reject reasons
        (r"^ok$", "ok"),
        (r"^re-read$", "re_read"),
        (r"^no work order$", "no_work_order_read"),
        (r"^wrong product(?:: GTIN (?P<gtin>\d+)(?:, expected \d+)?)?$", "wrong_product"),
        (r"^foreign code", "foreign_code"),
        (r"^duplicate: serial already (?P<state>\w+)", "duplicate"),
        (r"^wrong code", "wrong_code"),
        (r"^unreadable", "unreadable"),
        (r"^no read within the verify window$", "no_read"),
        (r"^not printed: line paused$", "not_printed_paused"),
        (r"^printer fault: (?P<fault>.*)$", "printer_fault_reject"),
        (r"^in flight when the agent stopped$", "in_flight_at_stop"),
        # alarms
        (r"^unit printer: (?P<fault>.*)$", "printer_fault"),
        (r"^unit printer ready", "printer_ready"),
        (r"^verify scanner offline(?:: (?P<detail>.*))?$", "scanner_offline"),
        (r"^verify scanner connected but no read at all for (?P<count>\d+)", "scanner_silent"),
        (r"^verify scanner connected$", "scanner_connected"),
        (r"^verify scanner back$", "scanner_connected"),
        (r"^verify scanner reads again$", "scanner_reads_again"),
        (r"^(?P<count>\d+) rejects in a row \(last: (?P<last>.*)\)$", "too_many_rejects"),
        (r"^too many rejects$", "too_many_rejects"),
        (r"^broker unreachable for (?P<seconds>\d+) s", "broker_unreachable"),
        (r"^broker reachable again", "broker_back"),
        (r"^outbox disk budget used up", "outbox_full"),
        (r"^outbox full$", "outbox_full"),
        (r"^outbox nearly full", "outbox_nearly_full"),
        (r"^case of (?P<count>\d+) units not packed", "case_not_packed"),
        (r"^case label not verified$", "case_label_stop"),
        (r"^pallet label not printed$", "pallet_not_printed"),
        (r"^work order (?P<order>.+): reconciliation does not balance$", "unbalanced"),
        (r"^reject output", "reject_output_failed"),
        (r"^line journal cannot be written", "journal_failed"),
        (r"^no serials", "no_serials"),
        # pause reasons
        (r"^operator: (?P<text>.*)$", "paused_by_operator"),
        (r"^operator$", "paused_by_operator"),
        (r"^server$", "paused_by_server"),
        (r"^agent stopping$", "agent_stopping"),
        (r"^agent restarted$", "agent_restarted"),
        (r"^printer: (?P<fault>.*)$", "printer_fault"),
        # operator actions refused
        (r"^no work order is loaded$", "no_work_order"),
        (r"^a reason is required$", "reason_required"),
        (r"^serial '(?P<serial>.*)' was never issued on this line$", "serial_unknown"),
        (r"^printer not ready: (?P<fault>.*)$", "printer_not_ready"),
        (r"^work order '(?P<order>.*)' is already closed$", "order_closed"),
        (r"^work order '(?P<order>.*)' is \w+; close it before loading", "order_open"),
        (r"^wrong PIN$", "wrong_pin"),
        (r"^PIN locked; try again in (?P<seconds>\d+) s$", "pin_locked"),
        (r"^the line is not running$", "not_running"),
    )
)


def describe(text: str, *, fallback: str = "unknown") -> Message:
    """The code and parameters of an engine message (``fallback`` when none matches)."""
    text = text.strip()
    for pattern, code in _PATTERNS:
        match = pattern.match(text)
        if match is None:
            continue
        params: dict[str, str] = {}
        for name, value in match.groupdict().items():
            if value is None:
                continue
            if name == "fault":
                params[name] = fault_code(value)
            elif name == "last":
                params[name] = describe(value).code
            elif name == "detail":
                continue  # the link's own words (an OS error) stay in the logs
            else:
                params[name] = value
        return Message(code, params)
    return Message(fallback)
