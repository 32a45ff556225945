"""The line's labels: every configured template passes its preflight, and a work order
starts only when its unit label does (:class:`LabelApproval`).

The preflight itself is :mod:`edge.printers.preflight`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from edge.config import LineConfig, PrinterDevice
from edge.printers.label_data import LabelData
from edge.printers.preflight import (
    LabelCheck,
    application_of,
    check_label,
    order_label_check,
    sample_for,
)
from edge.printers.templates import LabelTemplate, TemplateError, load_template
from edge.verdicts import EngineError
from lineside.codecs.preflight import Problem
from lineside.contract import WorkOrder
from lineside.gs1 import Sscc


def config_label_problems(config: LineConfig) -> list[str]:
    """Preflight of every template in ``[labels.templates]``, filled with sample data;
    one line per problem, naming the template."""
    problems: list[str] = []
    for name, path in config.labels.templates.items():
        application = application_of(name)
        role = "case_printer" if application == "case" else "unit_printer"
        printer = config.device(role)
        dpi = printer.dpi if isinstance(printer, PrinterDevice) else 203
        try:
            template = load_template(path)
        except TemplateError as exc:
            problems.append(f"labels.templates.{name}: {exc}")
            continue
        check = check_label(template, sample_for(application), application=application, dpi=dpi)
        problems += [f"labels.templates.{name} ({Path(path).name}): {p}" for p in check.problems]
    return problems


class LabelRefused(EngineError):
    """A work order cannot start: one of its labels fails the preflight."""


def order_case_data(order: WorkOrder, *, company_prefix: str) -> LabelData:
    """A full case of ``order``, with an SSCC of the line's company prefix."""
    sscc = Sscc.build(company_prefix, 9, extension=9).value
    count = str(order.units_per_case)
    return LabelData(
        product_name=order.product.name_vi,
        gtin=order.product.gtin,
        lot=order.lot,
        expiry=order.expiry_date,
        extra={"sscc": sscc, "count": count, "level": "case"},
    )


class LabelApproval:
    """Approves each work order's labels before the line starts it.

    ``check(order)`` is the preflight of the order's unit label and, on a line with a
    case printer, its case label (``None`` when the line has no template to check, e.g. a
    simulated printer). An approval is kept per work order, so a resumed order is not
    checked again; :attr:`approved` is the unit label the operator screen shows.
    """

    def __init__(self, check: Callable[[WorkOrder], LabelCheck | None]) -> None:
        self._check = check
        self._order_id: str | None = None
        #: The current work order's approved unit label, once it has started.
        self.approved: LabelCheck | None = None

    def approve(self, order: WorkOrder) -> None:
        """Raise :class:`LabelRefused` listing the problems if a label is not good."""
        if self._order_id == order.id:
            return
        check = self._check(order)
        if check is not None and not check.ok:
            listed = "; ".join(str(p) for p in check.problems[:5])
            more = f" (and {len(check.problems) - 5} more)" if len(check.problems) > 5 else ""
            raise LabelRefused(
                f"work order {order.id}: a label fails its preflight: {listed}{more}"
            )
        self._order_id, self.approved = order.id, check

    @classmethod
    def for_line(cls, config: LineConfig) -> LabelApproval:
        """The approval of a line's labels, with the templates each order names."""
        printer = config.device("unit_printer")
        case_printer = config.device("case_printer")
        dpi = printer.dpi if isinstance(printer, PrinterDevice) else 203
        serial_length = config.server.serial_length if config.server else 12

        def template(order: WorkOrder, name: str) -> LabelTemplate | None:
            path = config.labels.templates.get(name)
            if path is None:
                return None
            try:
                return load_template(path)
            except TemplateError as exc:
                raise LabelRefused(f"work order {order.id}: {exc}") from exc

        def check(order: WorkOrder) -> LabelCheck | None:
            unit = template(order, order.unit_template)
            if unit is None:
                return None
            result = order_label_check(
                unit, order, resolver=config.line.resolver, serial_length=serial_length, dpi=dpi
            )
            case = template(order, order.case_template)
            if isinstance(case_printer, PrinterDevice) and case is not None:
                data = order_case_data(order, company_prefix=config.line.company_prefix)
                case_check = check_label(case, data, application="case", dpi=case_printer.dpi)
                result.problems.extend(
                    Problem(p.kind, f"case label {p.field}", p.message) for p in case_check.problems
                )
            return result

        return cls(check)
