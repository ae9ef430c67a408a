"""Data files shipped with RadCAM (installed as viewer.resources): demo model, demo studies, icons."""
