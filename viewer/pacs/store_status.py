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


def store_result(path: Path, sop_uid: str, status: int, comment: str = "") -> SendResult:
    """The SendResult for one answered C-STORE; the PACS's error comment is kept when it gives one (it names no
    patient: it describes the refusal)."""
    if status == 0x0000:
        return SendResult(path, sop_uid, True, status, "stored")
    said = f"{meaning(status)} (status 0x{status:04X})" + (f": {comment}" if comment else "")
    if status in WARNINGS or status & 0xF000 == 0xB000:
        return SendResult(path, sop_uid, True, status, f"stored with warning: {said}")
    return SendResult(path, sop_uid, False, status, f"refused: {said}")
