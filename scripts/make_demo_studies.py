"""Regenerate the synthetic demo studies in resources/demo: python scripts/make_demo_studies.py [OUT_DIR]."""

import sys
from pathlib import Path

from viewer.demo.studies import write_demo_studies

if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "resources" / "demo"
    for name, path in sorted(write_demo_studies(out).items()):
        print(f"{name}: {path.stat().st_size} bytes")
