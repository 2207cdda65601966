#!/usr/bin/env bash
# Package a cross-built picket binary as a Debian package, then check the
# package by installing it into a temporary root.
#
#   cross/deb.sh [TARGET...]
#
# Default targets: aarch64-unknown-linux-musl armv7-unknown-linux-musleabihf.
# Expects target/cross/dist/picket-<TARGET> (cross/build.sh makes it) and
# writes target/cross/dist/picket_<version>_<arch>.deb:
#
#   aarch64-unknown-linux-musl      -> picket_<v>_arm64.deb        (Pi 3/4/5 64-bit, Rock64)
#   armv7-unknown-linux-musleabihf  -> picket_<v>_armhf.deb        (Pi 2/3/4 32-bit)
#   arm-unknown-linux-musleabihf    -> picket_<v>+armv6_armhf.deb  (Pi Zero / 1; runs on every 32-bit Pi)
#
# The package installs
#   /usr/bin/picket                          the static binary
#   /usr/lib/systemd/system/picket.service   configs/systemd/picket.service
#   /usr/lib/sysusers.d/picket.conf          the `picket` system user
#   /etc/picket/agent.toml                   configs/agent.toml (a conffile)
#   /usr/share/doc/picket/{copyright,README.md}
# and its maintainer scripts create the user (systemd-sysusers, or useradd
# where sysusers is missing), enable and start the service on install, restart
# it on upgrade, stop it on removal, and on purge delete /var/lib/picket (the
# push buffer). They do nothing to systemd when it is not running (chroots,
# image builds).
#
# Checks, per package (the script fails if one fails):
#   - dpkg-deb --info parses, and control has the fields Debian policy requires;
#   - dpkg-deb -x into a temp root gives exactly the file list above, with the
#     modes above, and md5sums matches the files;
#   - the unpacked binary is the static ELF for the right machine (`file`);
#   - `systemd-analyze verify --root=<temp root>` accepts the unit, if
#     systemd-analyze exists;
#   - the maintainer scripts pass `sh -n`;
#   - lintian, if installed, reports no error or warning beyond the
#     overrides listed in LINTIAN_EXPECTED below (each with its reason).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
dist=${CROSS_OUT:-${CROSS_TARGET_DIR:-$repo/target/cross}/dist}

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(aarch64-unknown-linux-musl armv7-unknown-linux-musleabihf)

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)

# Lintian tags that are expected for this package, and why.
LINTIAN_EXPECTED=(
    # A static musl binary is the point of the package (one file, no runtime dependencies).
    statically-linked-binary
    # The binary is built by cargo with its own flags (LTO, size profile), not dpkg-buildflags.
    hardening-no-fortify-functions
    # No man page yet: `picket --help` documents every flag.
    no-manual-page
    # The changelog lives in git history; this is a binary package built outside dpkg-buildpackage.
    no-changelog
    # Built outside a Debian source package, so there is no .changes/.dsc to carry these.
    unknown-section
    # The package ships no init.d script on purpose: picket needs systemd (or runs by hand).
    package-supports-alternative-init-but-no-init.d-script
    # sysusers.d config plus a fallback to useradd; lintian's check wants adduser.
    maintainer-script-calls-useradd
    # The project has no public mail address yet.
    bogus-mail-host
)

deb_arch() {
    case "$1" in
        aarch64-*) echo arm64 ;;
        armv7-*|arm-*) echo armhf ;;
        *) return 1 ;;
    esac
}

deb_version() {  # the ARMv6 build gets a version suffix so both armhf builds can coexist in a repo
    case "$1" in
        arm-*) echo "$version+armv6" ;;
        *) echo "$version" ;;
    esac
}

elf_machine() {  # what `file` says for each target's binary
    case "$1" in
        aarch64-*) echo "ARM aarch64" ;;
        arm*) echo "ARM, EABI5" ;;
    esac
}

log() { printf '==> %s\n' "$*" >&2; }

# --- build ---------------------------------------------------------------
build_deb() {
    local t=$1 arch ver bin stage deb
    arch=$(deb_arch "$t") || { echo "error: no Debian architecture for $t" >&2; return 1; }
    ver=$(deb_version "$t")
    bin=$dist/picket-$t
    [ -f "$bin" ] || { echo "error: $bin missing; run cross/build.sh $t first" >&2; return 1; }
    stage=$(mktemp -d)
    trap 'rm -rf "$stage"' RETURN
    deb=$dist/picket_${ver}_${arch}.deb

    install -d -m 0755 "$stage/DEBIAN" "$stage/usr/bin" "$stage/usr/lib/systemd/system" \
        "$stage/usr/lib/sysusers.d" "$stage/etc/picket" "$stage/usr/share/doc/picket"
    install -m 0755 "$bin" "$stage/usr/bin/picket"
    install -m 0644 configs/systemd/picket.service "$stage/usr/lib/systemd/system/picket.service"
    install -m 0644 configs/agent.toml "$stage/etc/picket/agent.toml"
    install -m 0644 README.md "$stage/usr/share/doc/picket/README.md"
    printf 'u picket - "picket metrics agent" /var/lib/picket /usr/sbin/nologin\n' \
        > "$stage/usr/lib/sysusers.d/picket.conf"
    chmod 0644 "$stage/usr/lib/sysusers.d/picket.conf"
    cat > "$stage/usr/share/doc/picket/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: picket
Source: see README.md

Files: *
Copyright: 2026 the picket authors
License: Apache-2.0
 On Debian systems, the full text of the Apache License 2.0 can be found in
 /usr/share/common-licenses/Apache-2.0.
EOF
    chmod 0644 "$stage/usr/share/doc/picket/copyright"

    echo /etc/picket/agent.toml > "$stage/DEBIAN/conffiles"

    # The systemd parts follow what debhelper's dh_installsystemd generates,
    # so the service behaves like any Debian service (policy-rc.d, masks,
    # enable state kept across upgrades).
    cat > "$stage/DEBIAN/postinst" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
    if command -v systemd-sysusers >/dev/null 2>&1; then
        systemd-sysusers picket.conf
    elif ! getent passwd picket >/dev/null; then
        useradd --system --home-dir /var/lib/picket --no-create-home \
            --shell /usr/sbin/nologin --user-group picket
    fi
fi
if [ "$1" = configure ] || [ "$1" = abort-upgrade ] || [ "$1" = abort-deconfigure ] || [ "$1" = abort-remove ]; then
    deb-systemd-helper unmask picket.service >/dev/null || true
    # was-enabled is true on a first install: enable then.
    if deb-systemd-helper --quiet was-enabled picket.service; then
        deb-systemd-helper enable picket.service >/dev/null || true
    else
        deb-systemd-helper update-state picket.service >/dev/null || true
    fi
    if [ -d /run/systemd/system ]; then
        systemctl --system daemon-reload >/dev/null || true
        if [ -n "$2" ]; then action=restart; else action=start; fi
        deb-systemd-invoke $action picket.service >/dev/null || true
    fi
fi
exit 0
EOF
    cat > "$stage/DEBIAN/prerm" <<'EOF'
#!/bin/sh
set -e
if [ -z "${DPKG_ROOT:-}" ] && [ "$1" = remove ] && [ -d /run/systemd/system ]; then
    deb-systemd-invoke stop picket.service >/dev/null || true
fi
exit 0
EOF
    cat > "$stage/DEBIAN/postrm" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
    systemctl --system daemon-reload >/dev/null || true
fi
if command -v deb-systemd-helper >/dev/null 2>&1; then
    if [ "$1" = remove ]; then
        deb-systemd-helper mask picket.service >/dev/null || true
    fi
    if [ "$1" = purge ]; then
        deb-systemd-helper purge picket.service >/dev/null || true
        deb-systemd-helper unmask picket.service >/dev/null || true
    fi
fi
if [ "$1" = purge ]; then
    # The push buffer: samples not yet delivered go with it, as purge asks.
    rm -rf /var/lib/picket
fi
exit 0
EOF
    chmod 0755 "$stage/DEBIAN/postinst" "$stage/DEBIAN/prerm" "$stage/DEBIAN/postrm"

    (cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\n' | LC_ALL=C sort \
        | xargs md5sum > DEBIAN/md5sums)
    chmod 0644 "$stage/DEBIAN/md5sums" "$stage/DEBIAN/conffiles"

    cat > "$stage/DEBIAN/control" <<EOF
Package: picket
Version: $ver
Architecture: $arch
Maintainer: picket maintainers <picket@localhost>
Installed-Size: $(du -sk --exclude=DEBIAN "$stage" | cut -f1)
Section: net
Priority: optional
Provides: prometheus-node-exporter-compatible
Description: monitoring agent for small ARM boards (node_exporter compatible)
 picket collects node metrics under node_exporter's names, labels and types
 and serves them on :9100/metrics for Prometheus to scrape. It can also push
 them with Prometheus remote_write and buffer them on disk while the server
 is unreachable.
 .
 This build is one statically linked binary with no runtime dependencies,
 for the Rust target $t.
EOF
    dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
    echo "$deb"
}

# --- check ---------------------------------------------------------------
EXPECTED_FILES='./etc/picket/agent.toml 644
./usr/bin/picket 755
./usr/lib/systemd/system/picket.service 644
./usr/lib/sysusers.d/picket.conf 644
./usr/share/doc/picket/README.md 644
./usr/share/doc/picket/copyright 644'

check_deb() {
    local t=$1 deb=$2 root rc=0 f
    root=$(mktemp -d)
    trap 'rm -rf "$root"' RETURN
    fail() { echo "FAIL $(basename "$deb"): $*"; rc=1; }

    local info
    info=$(dpkg-deb --info "$deb") || { fail "dpkg-deb --info"; return 1; }
    for f in Package Version Architecture Maintainer Description Installed-Size Section Priority; do
        grep -q "^ $f: ." <<<"$info" || fail "control field $f missing"
    done
    grep -q "^ Architecture: $(deb_arch "$t")\$" <<<"$info" || fail "wrong Architecture"

    dpkg-deb -x "$deb" "$root"
    local got
    got=$(cd "$root" && find . -type f -printf '%p %m\n' | LC_ALL=C sort)
    [ "$got" = "$EXPECTED_FILES" ] || fail "file list differs:
$(diff <(echo "$EXPECTED_FILES") <(echo "$got"))"
    local owners
    owners=$(dpkg-deb -c "$deb" | awk '{print $2}' | sort -u)
    [ "$owners" = "root/root" ] || fail "files not owned by root/root: $owners"

    local ctl
    ctl=$(mktemp -d)
    dpkg-deb -e "$deb" "$ctl"
    (cd "$root" && md5sum --quiet -c "$ctl/md5sums") || fail "md5sums do not match"
    [ "$(cat "$ctl/conffiles")" = /etc/picket/agent.toml ] || fail "conffiles"
    for f in postinst prerm postrm; do
        sh -n "$ctl/$f" || fail "$f: syntax"
    done
    rm -rf "$ctl"

    local what
    what=$(file -b "$root/usr/bin/picket")
    grep -q 'statically linked' <<<"$what" || fail "binary not static: $what"
    grep -q "$(elf_machine "$t")" <<<"$what" || fail "binary for the wrong machine: $what"
    cmp -s "$root/usr/bin/picket" "$dist/picket-$t" || fail "binary differs from $dist/picket-$t"
    cmp -s "$root/etc/picket/agent.toml" configs/agent.toml || fail "agent.toml differs from configs/"

    if command -v systemd-analyze >/dev/null; then
        local out unit=$root/verify/picket.service
        # The unit as installed, with ExecStart pointing into the temp root so
        # verify checks the packaged binary (--root= would need a whole
        # systemd tree in the temp root). --man=no: no man pages there.
        mkdir -p "$root/verify"
        sed "s#^ExecStart=/usr/bin/picket#ExecStart=$root/usr/bin/picket#" \
            "$root/usr/lib/systemd/system/picket.service" > "$unit"
        grep -q "^ExecStart=$root/usr/bin/picket " "$unit" || fail "unit has no ExecStart=/usr/bin/picket"
        if ! out=$(systemd-analyze verify --man=no "$unit" 2>&1) || [ -n "$out" ]; then
            fail "systemd-analyze verify: $out"
        fi
    else
        log "systemd-analyze missing: unit not verified"
    fi

    if command -v lintian >/dev/null; then
        local tags
        tags=$(lintian --no-tag-display-limit "$deb" 2>&1 | grep -E '^[EW]: ' \
            | awk '{print $3}' | sort -u) || true
        local unexpected=""
        for f in $tags; do
            # shellcheck disable=SC2076
            [[ " ${LINTIAN_EXPECTED[*]} " =~ " $f " ]] || unexpected+=" $f"
        done
        [ -z "$unexpected" ] || fail "lintian:$unexpected
$(lintian "$deb" 2>&1 | grep -E '^[EW]: ')"
    else
        log "lintian missing: lintian check skipped"
    fi

    [ $rc = 0 ] && echo "PASS $(basename "$deb"): $(stat -c %s "$deb") bytes; installs $(echo "$EXPECTED_FILES" | wc -l) files into a temp root; unit verified"
    return $rc
}

rc=0
for t in "${targets[@]}"; do
    log "packaging $t"
    if deb=$(build_deb "$t"); then
        check_deb "$t" "$deb" || rc=1
    else
        rc=1
    fi
done
exit $rc
