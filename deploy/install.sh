#!/usr/bin/env bash
# Install venuelink as a systemd service on this host, from this source checkout.
#
#   sudo deploy/install.sh                 # /opt/venuelink, user venuelink, /etc/venuelink, the units
#   deploy/install.sh --root /tmp/stage --no-build   # staged into a folder, as the tests run it
#
# Staged (--root DIR), it only writes below DIR: no user is created, nothing is chowned to a user of
# this host and systemd is not touched, whoever runs it (create the user on the target host).
#
# What it creates (nothing that exists is overwritten, so it is safe to run again on upgrade):
#   <prefix>                      the source files of this checkout and, built there, .venv with the extensions
#   /etc/venuelink/venuelink.toml the config (from deploy/venuelink.toml), root:venuelink 0640
#   /etc/venuelink/credentials.env API keys as environment variables, root:root 0600 (read by systemd only)
#   /etc/venuelink/strategies/    strategy programs run by venuelink-strategy@<name>.service
#   /etc/systemd/system/venuelink.service, venuelink-strategy@.service
set -euo pipefail

root="" prefix=/opt/venuelink user=venuelink make_user=1 systemd=1 build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --root) root="${2:?--root needs a directory}"; shift 2 ;;
    --prefix) prefix="${2:?--prefix needs a directory}"; shift 2 ;;
    --user) user="${2:?--user needs a name}"; shift 2 ;;
    --no-user) make_user=0; shift ;;
    --no-systemd) systemd=0; shift ;;
    --no-build) build=0; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$prefix" in /*) ;; *) echo "install.sh: --prefix must be an absolute path" >&2; exit 2 ;; esac

src=$(cd "$(dirname "$0")/.." && pwd)
as_root=0; [ "$(id -u)" -eq 0 ] && as_root=1
if [ -z "$root" ] && [ $as_root -eq 0 ]; then
  echo "install.sh: installing into / needs root (sudo), or stage it with --root DIR" >&2; exit 2
fi
if [ -n "$root" ]; then
  case "$root" in /*) ;; *) root="$(pwd)/$root" ;; esac
  [ "${root%/}" != "" ] || { echo "install.sh: --root / is not a staging folder (leave --root out)" >&2; exit 2; }
  make_user=0 systemd=0 as_root=0     # staged: this host's users and systemd are not the target's
fi
dest="$root$prefix" etc="$root/etc/venuelink" units="$root/etc/systemd/system"

say() { echo "install.sh: $*"; }
own() {  # own USER:GROUP PATH..., where we may (root, and the user exists)
  if [ $as_root -eq 1 ] && id "$user" >/dev/null 2>&1; then chown "$@"; fi
}

if [ $make_user -eq 1 ] && ! id "$user" >/dev/null 2>&1; then
  useradd --system --no-create-home --home-dir "$prefix" --shell /usr/sbin/nologin "$user"
  say "created system user $user"
fi

# the source files as committed (git) or as they are (a release tarball), never a build tree or venv
install -d -m 0755 "$dest"
if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
  git -C "$src" ls-files -z | (cd "$src" && xargs -0 tar -cf - --no-recursion) | tar -xf - -C "$dest"
else
  tar -C "$src" --exclude=.venv --exclude=build --exclude='*.so' -cf - . | tar -xf - -C "$dest"
fi
say "source in $dest"
if [ $build -eq 1 ]; then
  make -C "$dest" build
  say "built $dest/.venv"
fi

install -d -m 0750 "$etc" "$etc/strategies"
own "root:$user" "$etc" "$etc/strategies"
if [ ! -e "$etc/venuelink.toml" ]; then
  install -m 0640 "$src/deploy/venuelink.toml" "$etc/venuelink.toml"
  own "root:$user" "$etc/venuelink.toml"
  say "wrote $etc/venuelink.toml: set the venues and symbols"
fi
if [ ! -e "$etc/credentials.env" ]; then
  (umask 077; cp "$src/deploy/credentials.env.example" "$etc/credentials.env")
  chmod 0600 "$etc/credentials.env"
  say "wrote $etc/credentials.env (mode 0600): fill in the API keys, or remove the *_env names from the config for market data only"
fi
if [ ! -e "$etc/strategies/example.py" ]; then
  install -m 0640 "$src/deploy/strategy_example.py" "$etc/strategies/example.py"
  own "root:$user" "$etc/strategies/example.py"
fi

install -d -m 0755 "$units"
for u in venuelink.service venuelink-strategy@.service; do
  sed -e "s|/opt/venuelink|$prefix|g" -e "s|^User=venuelink|User=$user|" "$src/deploy/$u" > "$units/$u"
  chmod 0644 "$units/$u"
done
say "units in $units"
if [ $systemd -eq 1 ] && [ -z "$root" ] && command -v systemctl >/dev/null 2>&1; then
  systemctl daemon-reload
  say "next: edit $etc/venuelink.toml and $etc/credentials.env, then"
  say "  systemctl enable --now venuelink            (market data, status in the journal), or"
  say "  systemctl enable --now venuelink-strategy@example   (a strategy program, the engine inside it)"
fi
