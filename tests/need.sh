# tests/need.sh — sourced by the check scripts (check_portable.sh, check_cortex_m.sh):
#   need PROGRAM-OR-PATH PACKAGE
# returns 0 when PROGRAM is on the PATH (or PATH exists); otherwise installs Debian's PACKAGE when
# run as root, or says what to install and returns 1. Messages start with $NEED_WHO.
need() {
    if command -v "$1" >/dev/null || [ -e "$1" ]; then return 0; fi
    if [ "$(id -u)" = 0 ]; then
        echo "${NEED_WHO:-need}: installing $2"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
    else
        echo "${NEED_WHO:-need}: $1 missing (apt-get install $2)" >&2
        return 1
    fi
}
