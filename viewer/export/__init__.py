"""Exports, each written atomically: PNG/JPEG/TIFF images, DICOM Secondary Capture, Grayscale Softcopy Presentation
State and Parametric Map, JSON sidecars, whole explained images (explanation.py); anonymisation.

Names are imported on first use (PEP 562) so the viewer can show its window without paying for highdicom.
"""

from importlib import import_module

_WHERE = {
    "AnonymizationSession": "anonymize", "anonymize_dataset": "anonymize", "anonymize_metadata": "anonymize",
    "header_text": "anonymize", "atomic_write": "atomic", "write_secondary_capture": "dicom_sc",
    "GspsFinding": "gsps", "write_gsps": "gsps", "write_parametric_map": "parametric_map",
    "save_image": "images", "write_sidecar": "sidecar", "StagedSet": "atomic", "printable": "names",
    "printable_tree": "names", "ModelCard": "caption", "NOT_FOR_DIAGNOSIS": "caption",
    **{name: "explanation" for name in ("FORMATS", "PANELS", "OverlayStyle", "caption", "explanation_stem",
                                        "method_title", "planned_files", "render_panels", "target_score",
                                        "write_explanation")},
}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value
    return value
