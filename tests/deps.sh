#!/bin/sh
# Install the Debian packages that building and testing herd need, but
# only those that are missing (a no-op on a ready machine, so a non-root
# user can run it).  "deps.sh build": only what building needs (make, make
# run); no argument: also what the tests need (make test).
set -eu
PKGS="build-essential pkg-config libevent-dev libcurl4-openssl-dev
libcjson-dev libinih-dev libssl-dev libgeonames-dev"
if [ "${1:-}" != build ]; then
	PKGS="$PKGS clang libclang-rt-14-dev libcmocka-dev python3
python3-pytest python3-prometheus-client iproute2 procps mandoc strace graphviz
chromium chromium-driver libgeonames0"
fi
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing:$missing"
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: not root; run: sudo apt-get install$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing
