#!/usr/bin/env bash
# Build the stand-alone RadCAM folder with PyInstaller: dist/RadCAM/ (Linux, Windows under Git Bash) or
# dist/RadCAM.app (macOS). Run from anywhere, in an environment where RadCAM and PyInstaller are installed
# (pip install '.[bundle]'). Check the result:  dist/RadCAM/RadCAM --screenshot /tmp/radcam.png
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -c "import PyInstaller, viewer" 2>/dev/null || {
    echo "build.sh: needs RadCAM and PyInstaller in this environment: pip install '.[bundle]'" >&2; exit 2; }
python3 -m PyInstaller --noconfirm --clean --distpath dist --workpath build/pyinstaller packaging/radcam.spec
echo "built: $(du -sh dist/RadCAM | cut -f1) in dist/RadCAM"
