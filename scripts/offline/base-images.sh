# scripts/offline/base-images.sh: local stand-ins for the Space image's base images, for build
# machines that cannot pull from Docker Hub. Sourced by scripts/docker-check.sh only when a pull
# fails; with a registry in reach it is never read. Builds, under the same names:
#   debian:bookworm-slim        debootstrap --variant=minbase from the host's Debian mirror,
#                               slimmed the way the official image is
#   rust:1.95-slim-bookworm     the official recipe (rustup from static.rust-lang.org, minimal
#                               profile, in /usr/local/cargo) on that Debian
# Uses docker-check.sh's ENGINE, WORK, DEBIAN_IMAGE, RUST_IMAGE, RUST_VERSION and build_flags.
# shellcheck shell=bash

# The host's apt sources (its mirror), when the host is bookworm too; else Debian's default.
debian_sources() {
    local host=/etc/apt/sources.list.d/debian.sources
    if [ -f "$host" ] && grep -q '^Suites:.*bookworm' "$host"; then
        grep -v '^#' "$host"
    else
        printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n'
        printf 'Types: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
    fi
}

debian_mirror() {
    debian_sources | awk '/^URIs:/ { print $2; exit }'
}

build_debian_standin() {
    have debootstrap || {
        step "installing debootstrap with apt-get (builds the debian:bookworm-slim stand-in)"
        as_root apt-get install -y -q --no-install-recommends debootstrap >>"$WORK/apt.log" 2>&1 ||
            fail "installing debootstrap failed (log: $WORK/apt.log)"
    }
    local rootfs=$WORK/rootfs-bookworm mirror
    mirror=$(debian_mirror)
    step "building the $DEBIAN_IMAGE stand-in: debootstrap --variant=minbase bookworm from $mirror (about 2 min)"
    rm -rf "$rootfs"
    nice -n 10 debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$WORK/debootstrap.log" 2>&1 ||
        fail "debootstrap failed (log: $WORK/debootstrap.log)"
    # What the official slim image has too: the same apt sources layout, no downloaded package
    # lists or .deb files, and apt told to keep none.
    rm -f "$rootfs/etc/apt/sources.list"
    debian_sources >"$rootfs/etc/apt/sources.list.d/debian.sources"
    printf '%s\n' 'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };' \
        'APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };' \
        'Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";' >"$rootfs/etc/apt/apt.conf.d/docker-clean"
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb \
        "$rootfs"/var/log/*.log "$rootfs"/var/log/apt/*
    # The official image is "slim" the debuerreotype way: dpkg installs no docs (but copyright
    # files), man pages or translations, and those of the base packages are gone (127 -> 75 MB).
    printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
        'path-exclude /usr/share/man/*' 'path-exclude /usr/share/groff/*' 'path-exclude /usr/share/info/*' \
        'path-exclude /usr/share/lintian/*' 'path-exclude /usr/share/linda/*' 'path-exclude /usr/share/locale/*' \
        >"$rootfs/etc/dpkg/dpkg.cfg.d/docker"
    find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
    find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
    rm -rf "$rootfs"/usr/share/man/* "$rootfs"/usr/share/groff/* "$rootfs"/usr/share/info/* \
        "$rootfs"/usr/share/lintian/* "$rootfs"/usr/share/linda/* "$rootfs"/usr/share/locale/*
    tar -C "$rootfs" --numeric-owner -c . |
        "$ENGINE" import -q --change 'CMD ["bash"]' - "$DEBIAN_IMAGE" >/dev/null ||
        fail "importing the debootstrap rootfs as $DEBIAN_IMAGE failed"
}

# Certificates the host trusts beyond Debian's ca-certificates: on machines whose HTTPS goes
# through a TLS-intercepting egress proxy, its CA. Without it in the build stage, wget, rustup,
# cargo and npm there refuse every registry (wget exit 5). Printed as PEM; empty on a plain host.
host_extra_cas() {
    python3 - <<'PY'
import glob, re
pem = re.compile(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", re.S)
debian = set()
for path in glob.glob("/usr/share/ca-certificates/**/*.crt", recursive=True):
    debian.update("".join(cert.split()) for cert in pem.findall(open(path).read()))
try:
    host = pem.findall(open("/etc/ssl/certs/ca-certificates.crt").read())
except OSError:
    host = []
for cert in host:
    if "".join(cert.split()) not in debian:
        print(cert)
PY
}

# The official rust:*-slim-bookworm recipe (github.com/rust-lang/docker-rust), same paths and env.
build_rust_standin() {
    local context=$WORK/rust-standin extra_ca=''
    rm -rf "$context"
    mkdir -p "$context"
    host_extra_cas >"$context/host-extra-ca.crt"
    if [ -s "$context/host-extra-ca.crt" ]; then
        step "the host trusts $(grep -c BEGIN "$context/host-extra-ca.crt") extra CA(s) (a TLS-intercepting egress proxy?): the rust stand-in trusts them too"
        extra_ca="COPY host-extra-ca.crt /usr/local/share/ca-certificates/host-extra-ca.crt
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt"
    fi
    cat >"$context/Dockerfile" <<EOF
FROM $DEBIAN_IMAGE
$extra_ca
ENV RUSTUP_HOME=/usr/local/rustup \\
    CARGO_HOME=/usr/local/cargo \\
    PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \\
    RUST_VERSION=$RUST_VERSION
RUN set -eux; \\
    apt-get update; \\
    apt-get install -y --no-install-recommends ca-certificates gcc libc6-dev wget; \\
    url=https://static.rust-lang.org/rustup/dist/x86_64-unknown-linux-gnu/rustup-init; \\
    wget -q "\$url" "\$url.sha256"; \\
    echo "\$(cut -d' ' -f1 rustup-init.sha256) *rustup-init" | sha256sum -c -; \\
    chmod +x rustup-init; \\
    ./rustup-init -y --no-modify-path --profile minimal --default-toolchain \$RUST_VERSION \\
        --default-host x86_64-unknown-linux-gnu; \\
    rm rustup-init rustup-init.sha256; \\
    chmod -R a+w \$RUSTUP_HOME \$CARGO_HOME; \\
    rustup --version; cargo --version; rustc --version; \\
    apt-get remove -y --auto-remove wget; \\
    rm -rf /var/lib/apt/lists/*
EOF
    step "building the $RUST_IMAGE stand-in: $DEBIAN_IMAGE + rustup $RUST_VERSION (minimal profile)"
    nice -n 10 "$ENGINE" build "${build_flags[@]}" -t "$RUST_IMAGE" "$context" >"$WORK/rust-standin.log" 2>&1 ||
        fail "building the rust stand-in failed (log: $WORK/rust-standin.log)"
}
