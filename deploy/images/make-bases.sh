#!/usr/bin/env bash
# Makes the base images the Dockerfile names, offline, for podman on
# machines without a registry (`make image-bases`):
#   docker.io/library/debian:trixie-slim       debootstrap --variant=minbase
#   docker.io/library/golang:1.26              that + this machine's Go
#   gcr.io/distroless/static-debian12:nonroot  passwd/group, CA bundle, /tmp
# This machine's CA bundle and extra CAs (/usr/local/share/ca-certificates)
# go into the bases, so builds behind a TLS-inspecting egress proxy work.
# Needs root, debootstrap and podman. WORK (default /var/tmp/tsmcp-bases)
# keeps the debootstrap tree between runs.
set -euo pipefail
WORK=${WORK:-/var/tmp/tsmcp-bases}
SUITE=${SUITE:-trixie}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
: "${CONTAINERS_CONF:=/tmp/containers.conf}"
export CONTAINERS_CONF
[ -f "$CONTAINERS_CONF" ] || printf '[containers]\ndefault_ulimits = []\n' > "$CONTAINERS_CONF"
P=${CONTAINER:-podman --storage-driver vfs --runtime runc --cgroup-manager cgroupfs}
GOROOT=$(go env GOROOT)
CA=/etc/ssl/certs/ca-certificates.crt

mkdir -p "$WORK"
cd "$WORK"
if [ ! -x "$SUITE/bin/sh" ]; then
  rm -rf "$SUITE"
  debootstrap --variant=minbase "$SUITE" "$SUITE" "$MIRROR"
  rm -rf "$SUITE"/var/cache/apt/archives/*.deb "$SUITE"/var/lib/apt/lists/*
fi
mkdir -p "$SUITE/usr/local/share/ca-certificates" "$SUITE/etc/ssl/certs"
cp /usr/local/share/ca-certificates/*.crt "$SUITE/usr/local/share/ca-certificates/" 2>/dev/null || true
cp "$CA" "$SUITE/etc/ssl/certs/ca-certificates.crt"
tar -C "$SUITE" -c . | $P import - docker.io/library/debian:$SUITE-slim

rm -rf golang && mkdir -p golang/usr/local && cp -a "$SUITE/." golang/ && cp -a "$GOROOT" golang/usr/local/go
tar -C golang -c . | $P import \
  --change 'ENV PATH=/usr/local/go/bin:/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV GOPATH=/go' --change 'WORKDIR /go' - docker.io/library/golang:1.26
rm -rf golang

rm -rf static && mkdir -p static/etc/ssl/certs static/tmp static/home/nonroot
chmod 1777 static/tmp
chown 65532:65532 static/home/nonroot
printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > static/etc/passwd
printf 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n' > static/etc/group
cp "$CA" static/etc/ssl/certs/ca-certificates.crt
tar -C static -c . | $P import --change 'USER 65532' --change 'WORKDIR /home/nonroot' \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' - gcr.io/distroless/static-debian12:nonroot
rm -rf static
$P images
