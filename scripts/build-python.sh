#!/usr/bin/env bash
# Build a CPython from Debian's source packages into a prefix: the free-threaded build (--free-threaded) or the
# GIL build of the same version, so the two can be compared as one version, two builds.
#
#   scripts/build-python.sh 3.14 --free-threaded     # -> $PREFIX_ROOT/3.14t/bin/python3.14t
#   scripts/build-python.sh 3.14                     # -> $PREFIX_ROOT/3.14/bin/python3.14
#
# The source comes through apt's source mechanism, in a private apt configuration (a deb-src entry for Debian's
# newer suites in a folder of its own; the system's sources are not touched): `apt-get source --download-only`
# checks the tarball against the signed index.  When the mirror no longer holds the index's current upload, older
# uploads still in the pool are tried, newest first, and the tarball is checked against their .dsc's SHA-256.
# A build that is already there is skipped.  Needs: apt-get, curl, a C compiler and CPython's build dependencies
# (Debian: build-essential libssl-dev zlib1g-dev libffi-dev libsqlite3-dev libbz2-dev liblzma-dev
# libreadline-dev uuid-dev).  About 5-8 minutes per build on 2 cores.
set -euo pipefail

usage() { echo "usage: $0 MAJOR.MINOR [--free-threaded] [--prefix-root DIR] [--jobs N]" >&2; exit 2; }
[[ $# -ge 1 ]] || usage
VERSION="$1"; shift
[[ "$VERSION" =~ ^3\.[0-9]+$ ]] || { echo "$0: version must look like 3.14, got '$VERSION'" >&2; exit 2; }
FREE=0
PREFIX_ROOT="${CTXBENCH_PYTHON_ROOT:-$HOME/.local/share/ctxbench/python}"
JOBS="$(nproc)"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --free-threaded) FREE=1 ;;
        --prefix-root) PREFIX_ROOT="$2"; shift ;;
        --jobs) JOBS="$2"; shift ;;
        *) usage ;;
    esac
    shift
done

SUFFIX=""; CONFIGURE_EXTRA=()
if [[ $FREE == 1 ]]; then SUFFIX="t"; CONFIGURE_EXTRA=(--disable-gil); fi
PREFIX="$PREFIX_ROOT/$VERSION$SUFFIX"
BINARY="$PREFIX/bin/python$VERSION$SUFFIX"
if [[ -x "$BINARY" ]] && "$BINARY" -c 'import ssl, sqlite3, ctypes' 2>/dev/null; then
    echo "$BINARY is already built: $("$BINARY" -VV | head -1)"
    exit 0
fi

WORK="$PREFIX_ROOT/.work"
APT="$WORK/apt"
mkdir -p "$APT"/{etc,lists/partial,cache/archives/partial} "$WORK/src"
# Sid first (newest), then testing: whichever holds python$VERSION.
cat > "$APT/etc/ctxbench-src.sources" <<EOF
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: sid forky trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
APT_OPTS=(-o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$APT/etc" -o "Dir::State::Lists=$APT/lists"
          -o "Dir::Cache=$APT/cache" -o "APT::Sandbox::User=root" -q)
PACKAGE="python$VERSION"
echo "fetching the index of Debian's source packages (private apt configuration in $APT)"
apt-get "${APT_OPTS[@]}" update >/dev/null

tarball() { ls "$WORK/src/${PACKAGE}"_*.orig.tar.xz 2>/dev/null | sort -V | tail -1; }
cd "$WORK/src"
if [[ -z "$(tarball)" ]]; then
    for version in $(apt-cache "${APT_OPTS[@]}" showsrc "$PACKAGE" 2>/dev/null | awk '/^Version:/ {print $2}' | sort -rV); do
        if apt-get "${APT_OPTS[@]}" source --download-only "$PACKAGE=$version" >/dev/null 2>&1; then
            echo "fetched $PACKAGE $version through apt"; break
        fi
        echo "$PACKAGE $version is in the index but not on the mirror"
    done
fi
if [[ -z "$(tarball)" ]]; then
    # The pool keeps some older uploads: walk back from the index's newest patch release.
    POOL="http://deb.debian.org/debian/pool/main/p/$PACKAGE"
    newest="$(apt-cache "${APT_OPTS[@]}" showsrc "$PACKAGE" 2>/dev/null | awk '/^Version:/ {print $2}' | sort -rV | head -1)"
    [[ -n "$newest" ]] || { echo "$0: no $PACKAGE source package in Debian's index" >&2; exit 1; }
    patch="$(echo "$newest" | sed -E 's/^[0-9]+\.[0-9]+\.([0-9]+).*/\1/')"
    for ((p = patch; p >= 0; p--)); do
        dsc="${PACKAGE}_$VERSION.$p-1.dsc"
        curl -fsS -m 30 -o "$dsc" "$POOL/$dsc" 2>/dev/null || { rm -f "$dsc"; continue; }
        orig="${PACKAGE}_$VERSION.$p.orig.tar.xz"
        want="$(awk '/^Checksums-Sha256:/ {s=1; next} s && /orig.tar.xz$/ {print $1; exit}' "$dsc")"
        curl -fsS -m 300 -o "$orig" "$POOL/$orig"
        got="$(sha256sum "$orig" | cut -d' ' -f1)"
        if [[ -n "$want" && "$want" == "$got" ]]; then echo "fetched $orig from the pool (SHA-256 as its .dsc says)"; break; fi
        echo "$0: $orig does not match its .dsc's SHA-256" >&2; rm -f "$orig"; exit 1
    done
fi
TARBALL="$(tarball)"
[[ -n "$TARBALL" ]] || { echo "$0: no source of $PACKAGE could be fetched" >&2; exit 1; }
FULL="$(basename "$TARBALL" | sed -E "s/^${PACKAGE}_(.*)\.orig\.tar\.xz$/\1/")"

BUILD="$WORK/build-$FULL$SUFFIX"
rm -rf "$BUILD"; mkdir -p "$BUILD"
tar -xJf "$TARBALL" -C "$BUILD" --strip-components=1
cd "$BUILD"
echo "building CPython $FULL${SUFFIX:+ (free-threaded)} into $PREFIX with $JOBS jobs"
./configure --prefix="$PREFIX" --with-ensurepip=install "${CONFIGURE_EXTRA[@]}" >configure.log 2>&1 \
    || { tail -20 configure.log >&2; exit 1; }
make -j"$JOBS" >make.log 2>&1 || { tail -30 make.log >&2; exit 1; }
make altinstall >install.log 2>&1 || { tail -30 install.log >&2; exit 1; }
rm -rf "$BUILD"
"$BINARY" -c 'import ssl, sqlite3, ctypes, sys; print(sys.version); print("GIL enabled:", sys._is_gil_enabled())'
echo "built $BINARY; put $PREFIX/bin on PATH for tox (-e py$(echo "$VERSION" | tr -d .)$SUFFIX)"
