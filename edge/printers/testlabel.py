"""The technician's test label: every symbology, Vietnamese text, a calibration code.

The DataMatrix carries a variable-length lot followed by another AI, so a scanner
that drops the FNC1/GS separator (keyboard wedge) is caught by its self-test.

>>> CALIBRATION.gs1_message().as_bracketed()
'(01)08934567890120(10)CAL1(21)TEST01'
"""

from __future__ import annotations

from edge.printers.label_data import LabelData
from edge.printers.templates import EscposTemplate, ZplTemplate

TEST_TEXT = "Miến dong Côn Minh – Chè Shan tuyết Bằng Phúc"

CALIBRATION = LabelData(
    product_name=TEST_TEXT,
    gtin="08934567890120",
    lot="CAL1",
    serial="TEST01",
)

ZPL_TEST = """^XA
^CI28
^PW800^LL600
^FO20,16^A@N,32,32,E:DEJAVU.TTF^FD{{product_name}}^FS
^FO20,60^A0N,24,24^FDLINESIDE TEST LABEL {{hri}}^FS
^FO20,100^BXN,6,200,,,,_^FD{{element_string}}^FS
^FO300,100^BQN,2,5^FDMA,{{digital_link}}^FS
^BY2,3,100^FO40,420^BCN,100,N,N,N^FD{{element_string}}^FS
^XZ
"""

ESCPOS_TEST = """
[label]
codepage = "CP1258"
[[line]]
text = "{{product_name}}"
bold = true
[[line]]
text = "LINESIDE TEST {{hri}}"
[[line]]
qr = "{{digital_link}}"
[[line]]
gs1_128 = "{{element_string}}"
[[line]]
cut = "partial"
"""


def zpl_test_template() -> ZplTemplate:
    """The ZPL test label template."""
    return ZplTemplate.from_text(ZPL_TEST, "<test label>")


def escpos_test_template() -> EscposTemplate:
    """The ESC/POS test label layout."""
    return EscposTemplate.from_text(ESCPOS_TEST, "<test label>")
