"""Product photos kept by the server, so the consumer page loads nothing from other hosts.

The type is read from the bytes, never trusted from the request:

>>> sniff_type(b"\\x89PNG\\r\\n\\x1a\\n....")
'image/png'
>>> sniff_type(b"<svg onload=alert(1)>") is None
True
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from lineside.errors import InvalidInput
from server.db.models import Product, ProductPhoto
from server.errors import NotFound
from server.services.audit import Actor, audit_action

#: Accepted photo types (SVG is refused: it can carry scripts).
PHOTO_TYPES: Final = ("image/jpeg", "image/png", "image/webp")
#: Largest photo accepted, in bytes.
MAX_PHOTO_BYTES: Final = 2 * 1024 * 1024


def sniff_type(data: bytes) -> str | None:
    """The image type of ``data`` from its magic bytes, or None if it is none we accept."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def photo_url(gtin: str) -> str:
    """Where the server serves the photo of ``gtin``.

    >>> photo_url("08934567890120")
    '/media/products/08934567890120'
    """
    return f"/media/products/{gtin}"


def store_photo(
    session: Session,
    user: Actor,
    product_id: int,
    data: bytes,
    declared_type: str,
    *,
    reason: str = "",
) -> ProductPhoto:
    """Store (or replace) the photo of a product and point its ``image_url`` at it."""
    product = session.get(Product, product_id)
    if product is None:
        raise NotFound(f"products: no {product_id}")
    if not data:
        raise InvalidInput("photo: the body is empty; send the image bytes")
    if len(data) > MAX_PHOTO_BYTES:
        raise InvalidInput(f"photo: {len(data)} bytes is over the {MAX_PHOTO_BYTES} byte limit")
    kind = sniff_type(data)
    if kind is None:
        raise InvalidInput("photo: not a JPEG, PNG or WebP image")
    declared = declared_type.split(";", maxsplit=1)[0].strip().lower()
    if declared and declared not in {kind, "application/octet-stream"}:
        raise InvalidInput(f"photo: Content-Type says {declared!r} but the bytes are {kind}")
    photo = session.get(ProductPhoto, product_id)
    if photo is None:
        photo = ProductPhoto(product_id=product_id)
        session.add(photo)
    photo.content_type = kind
    photo.data = data
    photo.updated_at = datetime.now(UTC)
    product.image_url = photo_url(product.gtin)
    audit_action(
        session,
        user,
        "product.photo",
        f"product:{product_id}",
        reason=reason,
        details={"bytes": len(data), "type": kind},
    )
    return photo


def photo_of(session: Session, gtin: str) -> ProductPhoto:
    """The photo of the product with ``gtin``; :class:`NotFound` when there is none."""
    photo = session.scalar(
        select(ProductPhoto)
        .join(Product, Product.id == ProductPhoto.product_id)
        .where(Product.gtin == gtin)
    )
    if photo is None:
        raise NotFound(f"no photo for GTIN {gtin}")
    return photo
