#!/usr/bin/env bash
# Install the standalone bundle (from packaging/build.sh) for the current user, with its desktop
# entry, icon and AppStream metadata; or remove them again.
#
#   bash packaging/install.sh              # into ~/.local
#   bash packaging/install.sh --uninstall
#   PREFIX=/some/where bash packaging/install.sh   # another prefix (e.g. to check the tree)
#   BUNDLE=path/to/inspector-app bash packaging/install.sh   # a bundle built elsewhere
#   bash inspector-app/install.sh           # the copy build.sh puts into the bundle (a bundle
#                                           # copied to another PC, without the source tree)
#
# Puts:  PREFIX/lib/inspector-app/            the bundle
#        PREFIX/bin/inspector-app             a link to its executable
#        PREFIX/share/applications/inspector-app.desktop   (Exec with the bundle's absolute path)
#        PREFIX/share/icons/hicolor/scalable/apps/inspector-app.svg
#        PREFIX/share/metainfo/io.github.inspector_app.inspector.metainfo.xml
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
prefix=${PREFIX:-$HOME/.local}
if [ -n "${BUNDLE:-}" ]; then bundle=$BUNDLE
elif [ -x "$here/inspector-app" ]; then bundle=$here  # this script inside a bundle
else bundle=$(dirname "$here")/dist/inspector-app
fi
app_id=io.github.inspector_app.inspector

lib=$prefix/lib/inspector-app
bin=$prefix/bin/inspector-app
desktop=$prefix/share/applications/inspector-app.desktop
icon=$prefix/share/icons/hicolor/scalable/apps/inspector-app.svg
metainfo=$prefix/share/metainfo/$app_id.metainfo.xml

refresh() {
    if command -v update-desktop-database >/dev/null; then update-desktop-database -q "$prefix/share/applications" || true; fi
    if command -v gtk-update-icon-cache >/dev/null && [ -f "$prefix/share/icons/hicolor/index.theme" ]; then
        gtk-update-icon-cache -q -t "$prefix/share/icons/hicolor" || true
    fi
}

case "${1:-}" in
    "") ;;
    --uninstall)
        rm -rf "$lib"
        rm -f "$bin" "$desktop" "$icon" "$metainfo"
        refresh
        echo "removed inspector-app from $prefix"
        exit 0 ;;
    *) echo "install.sh: unknown option ${1} (use --uninstall or nothing)" >&2; exit 2 ;;
esac

if [ ! -x "$bundle/inspector-app" ]; then
    echo "install.sh: no bundle at $bundle: build it first (bash packaging/build.sh)" >&2
    exit 2
fi
bundle=$(cd "$bundle" && pwd)
case "$lib" in "$bundle"|"$bundle"/*) echo "install.sh: PREFIX points into the bundle" >&2; exit 2 ;; esac

# the bundle: copied into a new folder first, then swapped in, so a failed copy leaves the old one
mkdir -p "$prefix/lib"
rm -rf "$lib.new"
cp -a "$bundle" "$lib.new"
rm -rf "$lib"
mv "$lib.new" "$lib"
mkdir -p "$(dirname "$bin")"
ln -sfn "$lib/inspector-app" "$bin"

# the desktop entry runs the bundle by its absolute path (~/.local/bin is often not on a session's PATH)
install -d "$(dirname "$desktop")" "$(dirname "$icon")" "$(dirname "$metainfo")"
sed -e "s|^Exec=inspector-app |Exec=$lib/inspector-app |" -e "s|^TryExec=inspector-app$|TryExec=$lib/inspector-app|" \
    "$here/inspector-app.desktop" > "$desktop.tmp"
chmod 644 "$desktop.tmp"
mv "$desktop.tmp" "$desktop"
install -m644 "$lib/_internal/resources/icons/inspector-app.svg" "$icon"
install -m644 "$here/$app_id.metainfo.xml" "$metainfo"
refresh

echo "installed $("$lib/inspector-app" --version) into $prefix"
echo "  bundle:        $lib"
echo "  command:       $bin"
echo "  desktop entry: $desktop"
echo "check it with:   $bin self-test"
