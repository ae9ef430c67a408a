"""Exports, each written atomically: PNG/JPEG/TIFF images, DICOM Secondary Capture, JSON sidecars; anonymisation."""

from .anonymize import AnonymizationSession, anonymize_dataset, anonymize_metadata, header_text
from .atomic import atomic_write
from .dicom_sc import write_secondary_capture
from .images import save_image
from .sidecar import write_sidecar

__all__ = ["AnonymizationSession", "anonymize_dataset", "anonymize_metadata", "atomic_write", "header_text",
           "save_image", "write_secondary_capture", "write_sidecar"]
