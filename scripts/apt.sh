# Sourced by the install scripts: apt_install NAME PACKAGE... installs
# Debian packages (with sudo when not root), one apt run at a time on the
# machine, saying "NAME: installing ..." on standard error.
apt_install() {
  local name=$1
  shift
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  echo "$name: installing $*" >&2
  (
    flock 9
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
  ) 9>/tmp/hallucinator-apt.lock
}
