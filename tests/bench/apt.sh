# Sourced by the bench scripts: installs the Debian packages a benchmark
# needs and this machine lacks.
#
#   bench_apt ME PACKAGE...   (nothing to do without packages)
#
# Needs root to install; otherwise exits naming what to install.

bench_apt() {
  local me=$1
  shift
  [[ $# -gt 0 ]] || return 0
  if [[ $(id -u) != 0 ]]; then
    echo "$me: missing: $* (apt-get install them, or run as root)" >&2
    exit 1
  fi
  echo "$me: installing $*" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}
