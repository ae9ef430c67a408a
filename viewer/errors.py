"""Errors RadCAM reports to a user as one line (CLI exit code 2, a message in the GUI).

Anything else that escapes is a bug in RadCAM (exit code 1). Every error type a user can see is defined here (the
viewer's bad arguments are a `UsageError` too).
"""


class RadcamError(Exception):
    """Something wrong with the user's input, file, model or arguments; the message says what and why."""


class StudyError(RadcamError):
    """A file or folder cannot be opened as an image study."""


class NoImageError(StudyError):
    """The file is valid DICOM but holds nothing to display (SR, no PixelData, ...)."""


class ExportError(RadcamError):
    """An export cannot be written (exists, read-only folder, disk full, ...)."""


class ModelError(RadcamError):
    """A model file cannot be loaded or used."""


class CamError(RadcamError):
    """A class-activation method cannot be applied to this model or layer."""


class RenderError(RadcamError, ValueError):
    """Arguments a renderer cannot use (unknown colour map, CAM of the wrong size, ...)."""


class SessionError(RadcamError):
    """A review session file cannot be read, written or taken (locked by another reader, damaged, newer schema)."""


class SessionLockedError(SessionError):
    """Another reader (or another RadCAM) holds the session's lock."""


class PacsError(RadcamError):
    """A PACS node cannot be reached, refuses, or a transfer stops; the message names the node, never a patient."""


class UsageError(RadcamError):
    """Bad command-line arguments (`radcam-cli`, `radcam`)."""


class InternalBatchError(Exception):
    """The batch finished, but an image met a bug in RadCAM: `radcam-cli` reports it in one line and exits 1 (not a
    RadcamError: the exit status says it is RadCAM's fault, not the input's)."""
