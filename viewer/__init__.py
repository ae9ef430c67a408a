"""RadCAM: see why a chest X-ray classifier decided.

Layers (data flows one way): io → model → cam → render → export; ui and cli drive them.
Only viewer.ui imports Qt.
"""

__version__ = "0.1.0"
