"""A UUID's text from 32 hex digits, without building a ``UUID`` object.

Beat writes two ids per firing in a burst (a task id, a delivery tag), and the
``UUID`` object built and formatted on the way cost more than the id itself.
"""

from __future__ import annotations

# RFC 4122's variant (10xx) keeps two of the digit's four bits.
_VARIANT = "89ab"


def uuid_text(digits: str, version: int) -> str:
    """``str(uuid.UUID(hex=digits, version=version))``: lower case, dashed.

    The version goes in the 13th digit and the variant in the 17th, as
    ``uuid.UUID`` sets them; ``digits`` is 32 lower-case hex digits.
    """
    variant = _VARIANT[int(digits[16], 16) & 3]
    return (
        f"{digits[:8]}-{digits[8:12]}-{version}{digits[13:16]}"
        f"-{variant}{digits[17:20]}-{digits[20:32]}"
    )
