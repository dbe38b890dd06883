#!/usr/bin/env bash
# `make install` into a temporary DESTDIR (PREFIX=/usr/local, then PREFIX=/opt/wm): the files land
# under DESTDIR only, the installed binary runs and serves, the man page is the reference (every
# option of every command's --help and every variable of README.md's Configuration table is in
# it, and it renders without warnings), bash completion completes commands, options and values
# and knows every option, and the example systemd unit names the installed binary, has its
# hardening options and passes systemd-analyze (when installed).
set -uo pipefail
source "$(dirname "$0")/admin-fixtures/admin_lib.bash"
check_tools

w="$(mktemp -d /tmp/wasimancer-install.XXXXXX)"
trap 'stop_server; rm -rf "$w"' EXIT
# Configure and build exactly as the build under test was (a sanitizer build stays one).
build_type="$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt")"

# install PREFIX DESTDIR: `make install`; its output in $w/install.log.
install() {
  make -s -C "$root" install BUILD="$build" BUILD_TYPE="${build_type:-RelWithDebInfo}" PREFIX="$1" DESTDIR="$2" >"$w/install.log" 2>&1
}
dest="$w/dest"
install /usr/local "$dest"; rc=$?
expect_eq "install/make-install-exit-0" "$rc" 0
((rc == 0)) || { cat "$w/install.log"; finish; }
expect_eq "install/files" "$(cd "$dest" && find . -type f -o -type l | sort | tr '\n' ' ')" \
  "./usr/local/bin/wasimancer ./usr/local/lib/systemd/system/wasimancer.service ./usr/local/share/bash-completion/completions/wasimancer ./usr/local/share/man/man1/wasimancer.1 "
ibin="$dest/usr/local/bin/wasimancer"
man="$dest/usr/local/share/man/man1/wasimancer.1"
completion="$dest/usr/local/share/bash-completion/completions/wasimancer"
unit="$dest/usr/local/lib/systemd/system/wasimancer.service"

# --- the binary --------------------------------------------------------------------------------------
version="$(sed -n 's/^project(wasimancer VERSION \([0-9.]*\).*/\1/p' "$root/CMakeLists.txt")"
expect_eq "install/binary/version" "$("$ibin" --version 2>&1)" "wasimancer $version"
# It serves on its own: a home made from the examples, the installed binary.
mkdir -p "$w/home/plugins"
cp "$build"/examples/plugins/*.wasm "$root/examples/plugins/plugins.yml" "$w/home/plugins/"
bin="$ibin" start_server "$w/serve.log" WASIMANCER_AUTHENTICATION_TOKEN="$MCP_TOKEN" WASIMANCER_ADMIN_TOKEN="$ADMIN_TOKEN" \
  WASIMANCER_HOME="$w/home" -- || fail "install/binary/serves" "did not start"
expect_eq "install/binary/serves" "$(call_tool addNumbers '{"a":40,"b":2}')" 42
stop_server

# --- the man page ----------------------------------------------------------------------------------
expect_eq "install/man/version" "$(sed -n 's/^\.TH WASIMANCER 1 "[^"]*" "wasimancer \([0-9.]*\)".*/\1/p' "$man")" "$version"
# Every option of every command's --help, written as roff writes dashes (\-\-name).
missing=""
for cmd in "" serve call "plugin publish" "plugin update" "plugin remove" "plugin list" \
           "resource add" "resource update" "resource remove" "prompt add" "prompt update" "prompt remove"; do
  # shellcheck disable=SC2086
  for opt in $("$ibin" $cmd --help | grep -oE -- '--[a-z][a-z-]*' | sort -u); do
    [[ "$opt" == --help ]] && continue
    grep -qF -- "$(sed 's/-/\\-/g' <<<"$opt")" "$man" || missing+="[$cmd] $opt; "
  done
done
expect_eq "install/man/every-option-of-help" "$missing" ""
missing=""
for var in $(sed -n '/^## Configuration/,/^## /p' "$root/README.md" | grep -oE '`[A-Z][A-Z0-9_]*\*?`' | tr -d '`' | sort -u); do
  grep -qF -- "${var//_/_}" "$man" || missing+="$var "
done
expect_eq "install/man/every-variable-of-the-readme" "$missing" ""
if command -v man >/dev/null; then
  warnings="$(MANWIDTH=100 man --warnings -l "$man" 2>&1 >/dev/null)"
  expect_eq "install/man/renders-without-warnings" "$warnings" ""
  if MANWIDTH=100 man -l "$man" 2>/dev/null | grep -q -- '--home DIR'; then pass "install/man/renders"
  else fail "install/man/renders" "no --home DIR in the rendered page"; fi
else
  echo "SKIP install/man/renders: man is not installed"
fi

# --- bash completion -----------------------------------------------------------------------------------
# complete LINE: what the completion offers for LINE (the word being completed is the last one;
# a trailing space starts a new word).
complete_line() {
  bash --norc --noprofile -c '
    source "$1"
    read -ra COMP_WORDS <<<"$2"
    [[ "$2" == *" " ]] && COMP_WORDS+=("")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMP_LINE="$2"; COMP_POINT=${#2}
    _wasimancer
    printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " "' _ "$completion" "$1"
}
expect_eq "install/completion/commands" "$(complete_line "wasimancer ")" "--help --version call plugin prompt resource serve "
expect_eq "install/completion/command-prefix" "$(complete_line "wasimancer se")" "serve "
expect_eq "install/completion/serve-option" "$(complete_line "wasimancer serve --ho")" "--home "
expect_eq "install/completion/native-values" "$(complete_line "wasimancer serve --native ")" "off on quick "
# The plugin subcommands are those `wasimancer plugin --help` lists.
plugin_subs="$( { echo --help; "$bin" plugin --help 2>&1 | sed -n '/^Subcommands:/,$p' | awk 'NR > 1 && NF { print $1 }'; } | sort | tr '\n' ' ')"
expect_eq "install/completion/plugin-subcommands" "$(complete_line "wasimancer plugin ")" "$plugin_subs"
expect_eq "install/completion/publish-option" "$(complete_line "wasimancer plugin publish x.wasm --da")" "--data "
mkdir -p "$w/files"; touch "$w/files/a.wasm" "$w/files/b.txt"
expect_eq "install/completion/call-wasm-files" "$(cd "$w/files" && complete_line "wasimancer call ")" "a.wasm "
expect_eq "install/completion/default-command-options" "$(complete_line "wasimancer --ver")" "--version "
# Every option of --help is offered (and nothing that --help lacks).
mismatch=""
for spec in "serve:wasimancer serve --" "call:wasimancer call --" "plugin publish:wasimancer plugin publish x.wasm --" \
            "plugin remove:wasimancer plugin remove --" "resource add:wasimancer resource add --"; do
  cmd="${spec%%:*}"; line="${spec#*:}"
  # shellcheck disable=SC2086
  want="$("$ibin" $cmd --help | grep -oE -- '--[a-z][a-z-]*' | sort -u | tr '\n' ' ')"
  got="$(complete_line "$line" | tr ' ' '\n' | grep . | sort -u | tr '\n' ' ')"
  [[ "$want" == "$got" ]] || mismatch+="[$cmd] help: $want completion: $got; "
done
expect_eq "install/completion/matches-help" "$mismatch" ""

# --- the systemd unit -----------------------------------------------------------------------------------
expect_eq "install/unit/execstart" "$(grep '^ExecStart=' "$unit")" "ExecStart=/usr/local/bin/wasimancer serve"
missing=""
for key in DynamicUser=yes StateDirectory=wasimancer CacheDirectory=wasimancer NoNewPrivileges=yes ProtectSystem=strict \
           ProtectHome=yes PrivateTmp=yes PrivateDevices=yes ProtectKernelTunables=yes ProtectKernelModules=yes \
           ProtectControlGroups=yes RestrictNamespaces=yes RestrictAddressFamilies= CapabilityBoundingSet= \
           SystemCallFilter= LockPersonality=yes Environment=WASIMANCER_HOME=/var/lib/wasimancer \
           Environment=WASIMANCER_BIND=127.0.0.1 EnvironmentFile=-/etc/wasimancer/wasimancer.env; do
  grep -q "^$key" "$unit" || missing+="$key "
done
expect_eq "install/unit/hardening" "$missing" ""
if command -v systemd-analyze >/dev/null; then
  # verify checks that ExecStart exists: point it at the DESTDIR copy.
  sed "s#^ExecStart=/usr/local/bin/#ExecStart=$dest/usr/local/bin/#" "$unit" >"$w/wasimancer.service"
  expect_eq "install/unit/systemd-analyze-verify" "$(cd "$w" && systemd-analyze verify --man=no ./wasimancer.service 2>&1)" ""
  exposure="$(cd "$w" && systemd-analyze security --offline=yes ./wasimancer.service 2>/dev/null | sed -n 's/.*Overall exposure level for wasimancer.service: \([0-9.]*\).*/\1/p')"
  if [[ -n "$exposure" ]] && awk -v e="$exposure" 'BEGIN { exit !(e <= 2.0) }'; then pass "install/unit/exposure-$exposure"
  else fail "install/unit/exposure" "systemd-analyze security gives [$exposure], want at most 2.0"; fi
else
  echo "SKIP install/unit/systemd-analyze: not installed"
fi

# --- PREFIX is configurable ----------------------------------------------------------------------------
install /opt/wm "$w/dest2"; rc=$?
expect_eq "install/prefix/exit-0" "$rc" 0
expect_eq "install/prefix/binary" "$([[ -x "$w/dest2/opt/wm/bin/wasimancer" ]] && echo yes)" yes
expect_eq "install/prefix/unit-execstart" "$(grep '^ExecStart=' "$w/dest2/opt/wm/lib/systemd/system/wasimancer.service" 2>&1)" \
  "ExecStart=/opt/wm/bin/wasimancer serve"
finish
