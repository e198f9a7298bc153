#!/usr/bin/env bash
# Build the standalone one-folder bundle dist/inspector-app/ with PyInstaller, then run the
# bundle's self-test in a clean environment (env -i, from /).
#
#   bash packaging/build.sh              # trimmed bundle in dist/inspector-app/
#   bash packaging/build.sh --untrimmed  # everything the hooks collect, in dist/untrimmed/inspector-app/
#   PYTHON=/path/to/venv/bin/python bash packaging/build.sh   # another environment (e.g. CUDA torch)
#   SMOKE=0 bash packaging/build.sh      # without packaging/smoke.sh (every headless command once)
#
# The bundle carries the torch of that environment: build on a CUDA machine with a CUDA build of
# torch installed to get a CUDA bundle (packaging/README.md). PyInstaller is installed into the
# environment when missing. Takes several minutes; run it under `nice` on a shared machine.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
cd "$root"
py=${PYTHON:-$root/.venv/bin/python}
[ -x "$py" ] || { echo "build.sh: no Python at $py (set PYTHON=)" >&2; exit 2; }

dist=$root/dist
work=$root/build/pyinstaller
case "${1:-}" in
    "") ;;
    --untrimmed) export INSPECTOR_TRIM=0; dist=$root/dist/untrimmed; work=$root/build/pyinstaller-untrimmed ;;
    *) echo "build.sh: unknown option ${1} (use --untrimmed or nothing)" >&2; exit 2 ;;
esac

if ! "$py" -c "import PyInstaller" 2>/dev/null; then
    "$py" -m pip install --quiet "pyinstaller>=6.11" "pyinstaller-hooks-contrib>=2025.1"
fi
"$py" -c "import inspector_app" || { echo "build.sh: inspector_app is not installed in $py's environment (pip install -e .)" >&2; exit 2; }

start=$(date +%s)
"$py" -m PyInstaller --noconfirm --log-level WARN --distpath "$dist" --workpath "$work" "$here/inspector-app.spec"
bundle=$dist/inspector-app
# what installing needs, so that the folder alone (a tarball of it) installs on another PC
cp "$here/install.sh" "$here/inspector-app.desktop" "$here/io.github.inspector_app.inspector.metainfo.xml" "$bundle/"
echo "built $bundle in $(( $(date +%s) - start )) s: $(du -sh "$bundle" | cut -f1) ($(du -sb "$bundle" | cut -f1) bytes), $(find "$bundle" -type f | wc -l) files"

# every shared library of the bundle resolves (inside the bundle or on the system)
missing=$(find "$bundle" -name "*.so*" -type f -print0 | LD_LIBRARY_PATH="$bundle/_internal" xargs -0 -n 50 ldd 2>/dev/null \
    | grep "not found" | sort -u || true)
if [ -n "$missing" ]; then echo "build.sh: unresolved libraries:"; echo "$missing"; fi

# the bundle on its own: no environment, no venv on PATH, not from the source tree
(cd / && env -i "$bundle/inspector-app" self-test)
if [ "${SMOKE:-1}" != "0" ]; then bash "$here/smoke.sh" "$bundle"; fi
