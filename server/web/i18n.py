"""Words of the public pages in Vietnamese (the default) and English.

>>> pick_language("en", None)
'en'
>>> pick_language(None, "en-US,en;q=0.9")
'en'
>>> pick_language(None, "fr-FR, vi;q=0.5")
'vi'
>>> Messages.for_language("en")["status_recalled"]
'Recalled'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal

Language = Literal["vi", "en"]
LANGUAGES: Final[tuple[Language, ...]] = ("vi", "en")
DEFAULT_LANGUAGE: Final[Language] = "vi"

_VI: Final[Mapping[str, str]] = {
    "title": "Kiểm tra nguồn gốc sản phẩm",
    "status_genuine": "Chính hãng",
    "status_genuine_detail": "Mã này đã được đăng ký và kích hoạt trên dây chuyền đóng gói.",
    "status_unknown": "Mã không xác định",
    "status_unknown_detail": "Không tìm thấy mã này trong hệ thống truy xuất nguồn gốc. "
    "Sản phẩm có thể không chính hãng.",
    "status_recalled": "Đã thu hồi",
    "status_recalled_detail": "Lô hàng này đang bị thu hồi. Không sử dụng sản phẩm.",
    "status_expired": "Đã hết hạn",
    "status_expired_detail": "Sản phẩm đã quá hạn sử dụng.",
    "status_voided": "Mã đã bị hủy",
    "status_voided_detail": "Nhãn mang mã này đã bị hủy trên dây chuyền; sản phẩm không hợp lệ.",
    "product": "Sản phẩm",
    "producer": "Nhà sản xuất",
    "address": "Địa chỉ",
    "tax_id": "Mã số thuế",
    "origin": "Xuất xứ",
    "gtin": "Mã GTIN",
    "lot": "Số lô",
    "serial": "Số sê-ri",
    "production_date": "Ngày sản xuất",
    "expiry_date": "Hạn sử dụng",
    "ocop": "Sản phẩm OCOP",
    "stars": "sao",
    "certificate": "Giấy chứng nhận",
    "valid_until": "Hiệu lực đến",
    "stages": "Hành trình sản phẩm",
    "scan_count": "Mã này đã được {devices} thiết bị quét, tại {places} nơi, kể từ {since}.",
    "clone_warning": "Cảnh báo: mã này đã được quá nhiều thiết bị khác nhau quét, "
    "có thể là mã bị sao chép. Hãy kiểm tra bao bì cẩn thận.",
    "status_mismatch": "Thông tin không khớp",
    "status_mismatch_detail": "Số lô trên mã không khớp với số lô của sản phẩm khi được "
    "dán nhãn. Sản phẩm có thể không chính hãng.",
    "recall_reason": "Lý do thu hồi",
    "language": "English",
    "not_found_title": "Không tìm thấy mã",
    "step_commissioning": "Đóng gói và dán nhãn",
    "step_packing": "Đóng thùng",
    "step_shipping": "Xuất hàng",
    "step_receiving": "Nhận hàng",
    "step_inspecting": "Kiểm tra",
    "step_decommissioning": "Hủy mã",
    "step_destroying": "Tiêu hủy",
    "step_other": "Sự kiện",
    "hotline": "Đường dây nóng",
    "what_to_do": "Bạn nên làm gì?",
    "advice_recalled": "Ngừng sử dụng sản phẩm ngay. Giữ lại bao bì và hóa đơn, mang sản phẩm "
    "trả lại nơi bán hoặc gọi đường dây nóng của nhà sản xuất để được đổi hoặc hoàn tiền. "
    "Nếu đã dùng và thấy khó chịu, hãy đến cơ sở y tế gần nhất.",
    "advice_expired": "Không sử dụng sản phẩm đã quá hạn. Báo cho nơi bán nếu sản phẩm "
    "vẫn đang được bày bán.",
    "advice_voided": "Mã này đã bị hủy khi đóng gói nên không thể thuộc về sản phẩm đang bán. "
    "Không sử dụng và báo cho nhà sản xuất hoặc cơ quan quản lý thị trường.",
    "advice_unknown": "Sản phẩm có thể là hàng giả. Không sử dụng và báo cho cơ quan quản lý "
    "thị trường.",
    "advice_mismatch": "Thông tin trên mã không khớp với sản phẩm đã sản xuất: có thể là mã "
    "bị sao chép. Đối chiếu số lô in trên bao bì và báo cho nhà sản xuất.",
    "place_gln": "Địa điểm có mã GLN {gln}",
    "local_time": "Giờ địa phương",
}

_EN: Final[Mapping[str, str]] = {
    "title": "Product origin check",
    "status_genuine": "Genuine",
    "status_genuine_detail": "This code was registered and commissioned on the packing line.",
    "status_unknown": "Unknown code",
    "status_unknown_detail": "This code is not in the traceability system. "
    "The product may not be genuine.",
    "status_recalled": "Recalled",
    "status_recalled_detail": "This lot is being recalled. Do not use the product.",
    "status_expired": "Expired",
    "status_expired_detail": "The product is past its expiry date.",
    "status_voided": "Voided code",
    "status_voided_detail": "The label with this code was voided on the line; "
    "the product is not valid.",
    "product": "Product",
    "producer": "Producer",
    "address": "Address",
    "tax_id": "Tax ID",
    "origin": "Origin",
    "gtin": "GTIN",
    "lot": "Lot",
    "serial": "Serial",
    "production_date": "Production date",
    "expiry_date": "Expiry date",
    "ocop": "OCOP product",
    "stars": "stars",
    "certificate": "Certificate",
    "valid_until": "Valid until",
    "stages": "Product journey",
    "scan_count": "This code has been scanned by {devices} devices in {places} places "
    "since {since}.",
    "clone_warning": "Warning: too many different devices have scanned this code; "
    "it may have been copied. Check the packaging carefully.",
    "status_mismatch": "Details do not match",
    "status_mismatch_detail": "The lot on this code is not the lot the product was "
    "labelled with. The product may not be genuine.",
    "recall_reason": "Recall reason",
    "language": "Tiếng Việt",
    "not_found_title": "Code not found",
    "step_commissioning": "Packed and labelled",
    "step_packing": "Packed into a case",
    "step_shipping": "Shipped",
    "step_receiving": "Received",
    "step_inspecting": "Inspected",
    "step_decommissioning": "Code voided",
    "step_destroying": "Destroyed",
    "step_other": "Event",
    "hotline": "Hotline",
    "what_to_do": "What should you do?",
    "advice_recalled": "Stop using the product now. Keep the packaging and receipt, take the "
    "product back to the shop or call the producer's hotline for a replacement or refund. "
    "If you used it and feel unwell, see a doctor.",
    "advice_expired": "Do not use a product past its expiry date. Tell the shop if it is "
    "still on sale.",
    "advice_voided": "This code was voided at packing, so it cannot belong to a product on "
    "sale. Do not use it; tell the producer or the market surveillance authority.",
    "advice_unknown": "The product may be counterfeit. Do not use it; tell the market "
    "surveillance authority.",
    "advice_mismatch": "The details on this code do not match the product as it was made: "
    "the code may have been copied. Compare the lot printed on the pack and tell the producer.",
    "place_gln": "Location with GLN {gln}",
    "local_time": "Local time",
}


class Messages:
    """Lookup of the words of one language."""

    @staticmethod
    def for_language(language: Language) -> Mapping[str, str]:
        """The messages of ``language``."""
        return _EN if language == "en" else _VI


def pick_language(query: str | None, accept_language: str | None) -> Language:
    """``?lang=`` first, then the first supported language in Accept-Language, else Vietnamese.

    Accept-Language weights are honoured (``q=``); unknown languages are ignored.
    """
    if query in LANGUAGES:
        return "en" if query == "en" else "vi"
    if accept_language:
        ranked: list[tuple[float, int, str]] = []
        for position, part in enumerate(accept_language.split(",")):
            tag, _, params = part.strip().partition(";")
            weight = 1.0
            params = params.strip()
            if params.startswith("q="):
                try:
                    weight = float(params[2:])
                except ValueError:
                    weight = 0.0
            ranked.append((-weight, position, tag.strip().lower().split("-")[0]))
        for negative_weight, _, primary in sorted(ranked):
            if negative_weight < 0 and primary in LANGUAGES:
                return "en" if primary == "en" else "vi"
    return DEFAULT_LANGUAGE
