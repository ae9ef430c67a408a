"""What a C-STORE status means for one instance (PS3.4 B.2.3, PS3.7 C): stored, stored with a warning, refused
(the instance or its class: sending again will not help) or out of resources (transient: viewer.pacs.send retries
0xA7xx)."""

from __future__ import annotations

from pathlib import Path

from .client import SendResult

WARNINGS = {
    0xB000: "coercion of data elements",
    0xB006: "elements discarded",
    0xB007: "data set does not match SOP class",
}
REFUSALS = {
    0x0110: "processing failure",
    0x0111: "duplicate SOP instance",
    0x0117: "invalid SOP instance",
    0x0122: "SOP class not supported",
    0x0124: "not authorised",
    0x0211: "unrecognised operation",
}


def meaning(status: int) -> str:
    if status in WARNINGS:
        return WARNINGS[status]
    if status in REFUSALS:
        return REFUSALS[status]
    if status & 0xFF00 == 0xA700:
        return "out of resources (transient)"
    if status & 0xFF00 == 0xA900:
        return "data set does not match SOP class"
    if status & 0xF000 == 0xC000:
        return "cannot understand"
    return "failed"


def one_line(text: str, limit: int = 64) -> str:
    """Text from the PACS as a message may show it: one line (a control character becomes a space), at most `limit`
    characters (an Error Comment is LO, 64; a longer one is not the standard's and is cut)."""
    flat = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"


def store_result(path: Path, sop_uid: str, status: int, comment: str = "") -> SendResult:
    """The SendResult for one answered C-STORE. The PACS's Error Comment says why it refused (a duplicate, a
    patient ID conflict with what it holds): kept, as one line of at most 64 characters, since the message is
    one line and the comment is the PACS's free text."""
    if status == 0x0000:
        return SendResult(path, sop_uid, True, status, "stored")
    comment = one_line(comment)
    said = f"{meaning(status)} (status 0x{status:04X})" + (f": {comment}" if comment else "")
    if status in WARNINGS or status & 0xF000 == 0xB000:
        return SendResult(path, sop_uid, True, status, f"stored with warning: {said}")
    return SendResult(path, sop_uid, False, status, f"refused: {said}")
