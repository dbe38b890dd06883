#!/usr/bin/env bash
# Distribution and provenance (issue 12): the sha256 pin, publishing by OCI reference against a
# real registry (Debian's docker-registry, started here on 127.0.0.1 in a temporary folder), the
# CLI's `plugin push` and `plugin publish --oci/--sign`, and minisign signatures with keys that
# Debian's `minisign` makes here (WASIMANCER_TRUSTED_KEYS: unsigned, wrongly signed and altered
# modules refused with 403, signed ones accepted, checked again at restart).
set -uo pipefail
source "$(dirname "$0")/admin-fixtures/admin_lib.bash"
check_tools
unset WASIMANCER_TRUSTED_KEYS WASIMANCER_OCI_REGISTRIES WASIMANCER_OCI_PLAIN_HTTP WASIMANCER_OCI_AUTH_FILE WASIMANCER_SIGN_PASSWORD
for t in docker-registry minisign sha256sum; do
  if ! command -v "$t" >/dev/null; then
    echo "SKIP: $t is not installed (scripts/install-deps.sh installs it)"
    exit 0
  fi
done

w="$(mktemp -d /tmp/wasimancer-dist.XXXXXX)"
registry_pid=""
auth_registry_pid=""
stop_registry() {
  [[ -n "$registry_pid" ]] || return 0
  kill -TERM "$registry_pid" 2>/dev/null
  wait "$registry_pid" 2>/dev/null
  registry_pid=""
}
stop_auth_registry() {
  [[ -n "$auth_registry_pid" ]] || return 0
  kill -TERM "$auth_registry_pid" 2>/dev/null
  wait "$auth_registry_pid" 2>/dev/null
  auth_registry_pid=""
}
trap 'stop_server; stop_registry; stop_auth_registry; [[ -n "${token_pid:-}" ]] && kill "$token_pid" 2>/dev/null; rm -rf "$w"' EXIT
cd "$w" || exit 1
mkdir -p plugins reg keys files
cp "$test_plugins/version_a.wasm" files/dice_a.wasm
cp "$test_plugins/version_b.wasm" files/dice_b.wasm
A="$w/files/dice_a.wasm"
B="$w/files/dice_b.wasm"
sha_a="$(sha256sum "$A" | cut -d' ' -f1)"
sha_b="$(sha256sum "$B" | cut -d' ' -f1)"

# --- keys (minisign, no password) and signatures -----------------------------------------------
minisign -G -W -p keys/trusted.pub -s keys/trusted.key >/dev/null 2>&1 || { fail "setup/minisign" "minisign -G failed"; finish; }
minisign -G -W -p keys/other.pub -s keys/other.key >/dev/null 2>&1 || { fail "setup/minisign" "minisign -G failed"; finish; }
trusted_id="$(sed -n 's/.*public key \([0-9A-F]*\).*/\1/p' keys/trusted.pub)"
other_id="$(sed -n 's/.*public key \([0-9A-F]*\).*/\1/p' keys/other.pub)"
minisign -S -s keys/trusted.key -m "$A" -x files/a.by-trusted.minisig >/dev/null 2>&1
minisign -S -s keys/other.key -m "$A" -x files/a.by-other.minisig >/dev/null 2>&1
[[ -s files/a.by-trusted.minisig && -s files/a.by-other.minisig && -n "$trusted_id" ]] || { fail "setup/sign" "minisign -S failed"; finish; }

# --- the registry ------------------------------------------------------------------------------
start_registry() {
  local port="$1" i
  cat >reg/config.yml <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $w/reg/data
http:
  addr: 127.0.0.1:$port
EOF
  docker-registry serve reg/config.yml >reg/log 2>&1 &
  registry_pid=$!
  for i in $(seq 1 200); do
    [[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v2/")" == 200 ]] && return 0
    kill -0 "$registry_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "registry did not start:" >&2; cat reg/log >&2
  return 1
}
rport="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
start_registry "$rport" || { fail "setup/registry" "docker-registry did not start"; finish; }
reg="127.0.0.1:$rport"

# cli ARGS...: the wasimancer client against the running server. Sets $rc, $out, $err.
cli() {
  env WASIMANCER_URL="http://127.0.0.1:$server_port" WASIMANCER_ADMIN_TOKEN="$ADMIN_TOKEN" "$bin" "$@" >"$w/out" 2>"$w/err"
  rc=$?
  out="$(cat "$w/out")"; err="$(cat "$w/err")"
}
expect_code() {  # NAME WANT [BODY-NEEDLE]
  if [[ "$code" == "$2" && "$body" == *"${3:-}"* ]]; then pass "$1"; else fail "$1" "HTTP $code, want $2 with [${3:-}]; body: ${body:0:400}"; fi
}
by_ref() {  # METHOD JSON: publish by reference (pluginData as a JSON body)
  admin "$1" "$([[ $1 == PUT ]] && echo /update-plugin || echo /upload-plugin)" -H 'Content-Type: application/json' --data-binary "$2"
}
data_ref() {  # NAME REF [SHA256]: pluginData naming an OCI reference
  jq -cn --arg n "$1" --arg r "$2" --arg s "${3:-}" \
    '{name:$n, version:"1.0.0", description:"from a registry", oci:$r, functions:[{displayName:($n + "-roll"), function:"rollDice", arguments:[]}]}
     + (if $s == "" then {} else {sha256:$s} end)'
}

# --- push with the CLI -------------------------------------------------------------------------
"$bin" plugin push "$A" "$reg/test/dice:v1" --sign keys/trusted.key >"$w/out" 2>"$w/err"
rc=$?
pushed="$(cat "$w/out")"
if ((rc == 0)) && [[ "$(jq -r .sha256 <<<"$pushed")" == "$sha_a" && "$(jq -r .signed <<<"$pushed")" == true ]]; then pass "push/signed"
else fail "push/signed" "exit $rc: $pushed $(cat "$w/err")"; fi
manifest="$(curl -s -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://$reg/v2/test/dice/manifests/v1")"
expect_eq "push/manifest-layers" "$(jq -c '[.layers[].mediaType]' <<<"$manifest")" \
  '["application/wasm","application/vnd.wasimancer.minisign.signature.v1"]'
expect_eq "push/manifest-config" "$(jq -r '.config.mediaType' <<<"$manifest")" "application/vnd.wasm.config.v0+json"
expect_eq "push/layer-digest" "$(jq -r '.layers[0].digest' <<<"$manifest")" "sha256:$sha_a"
expect_eq "push/manifest-digest" "sha256:$(printf '%s' "$manifest" | sha256sum | cut -d' ' -f1)" "$(jq -r .digest <<<"$pushed")"
"$bin" plugin push "$B" "$reg/test/dice:unsigned" >/dev/null 2>&1 && pass "push/unsigned" || fail "push/unsigned" "push failed"
"$bin" plugin push "$A" "Not A Reference" >/dev/null 2>"$w/err"
rc=$?
if ((rc == 2)) && grep -q "not an OCI reference" "$w/err"; then pass "push/bad-reference"; else fail "push/bad-reference" "exit $rc: $(cat "$w/err")"; fi

# --- a server without trusted keys: publish by reference, sha256 pins --------------------------
start_server "$w/s1.log" WASIMANCER_ADMIN_TOKEN="$ADMIN_TOKEN" WASIMANCER_AUTHENTICATION_TOKEN="$MCP_TOKEN" \
  PLUGINS_PATH="$w/plugins" UPLOAD_PATH="$w/plugins" WASIMANCER_OCI_REGISTRIES="127.0.0.1" -- ||
  { fail "s1/start" "the server did not start"; finish; }

by_ref POST "$(data_ref dice "$reg/test/dice:v1")"
expect_code "oci/publish" 200 '"ociDigest"'
expect_eq "oci/served" "$(call_tool dice-roll)" "A"
admin GET /plugins/dice
expect_eq "oci/admin-reports" "$(jq -c '[.oci, .ociDigest, .sha256]' <<<"$body")" \
  "$(jq -cn --arg r "$reg/test/dice:v1" --arg d "$(jq -r .digest <<<"$pushed")" --arg s "$sha_a" '[$r, $d, $s]')"
expect_eq "oci/recorded-in-plugins.yml" "$(grep -c "sha256: \"\\?$sha_a" plugins/plugins.yml)" 1

by_ref POST "$(data_ref pinned "$reg/test/dice:v1" "$sha_b")"
expect_code "oci/pin-mismatch-400" 400 "$sha_a"
expect_eq "oci/pin-mismatch-nothing-changed" "$(tools_list | tr '\n' ' ')" "dice-roll "
by_ref POST "$(data_ref pinned "$reg/test/dice:v1" "sha256:$sha_a")"
expect_code "oci/pin-match" 200
by_ref POST "$(data_ref missing "$reg/test/nothing:v1")"
expect_code "oci/not-found-400" 400 "not found"
by_ref POST "$(data_ref elsewhere "localhost:$rport/test/dice:v1")"
expect_code "oci/registry-not-allowed-403" 403 "WASIMANCER_OCI_REGISTRIES"
by_ref POST "$(data_ref digestref "$reg/test/dice@$(jq -r .digest <<<"$pushed")")"
expect_code "oci/by-digest" 200
by_ref POST "$(data_ref baddigest "$reg/test/dice@sha256:$sha_b")"
expect_code "oci/unknown-digest-400" 400
# An allowed registry that nobody serves: 503 (try again later), not the client's 400; nothing changes.
dead="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
by_ref POST "$(data_ref deadreg "127.0.0.1:$dead/test/dice:v1")"
expect_code "oci/registry-unreachable-503" 503 "127.0.0.1:$dead"
admin GET /plugins/deadreg
expect_code "oci/registry-unreachable-nothing-added" 404

# hyper-mcp's image layout (a Docker image manifest, plugin.wasm in a tar+gzip layer), pushed with curl
push_blob() {  # FILE REPO: uploads a blob, prints its digest
  local d loc
  d="sha256:$(sha256sum "$1" | cut -d' ' -f1)"
  loc="$(curl -s -D - -o /dev/null -X POST "http://$reg/v2/$2/blobs/uploads/" | sed -n 's/^[Ll]ocation: *//p' | tr -d '\r')"
  [[ "$loc" == *\?* ]] && loc="$loc&digest=$d" || loc="$loc?digest=$d"
  curl -s -o /dev/null -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$1" "$loc"
  echo "$d"
}
mkdir -p img && cp "$B" img/plugin.wasm && tar -C img -czf layer.tar.gz plugin.wasm
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' >img-config.json
layer_digest="$(push_blob layer.tar.gz hyper/img)"
config_digest="$(push_blob img-config.json hyper/img)"
jq -cn --arg c "$config_digest" --argjson cs "$(stat -c %s img-config.json)" --arg l "$layer_digest" --argjson ls "$(stat -c %s layer.tar.gz)" \
  '{schemaVersion:2, mediaType:"application/vnd.docker.distribution.manifest.v2+json",
    config:{mediaType:"application/vnd.docker.container.image.v1+json", digest:$c, size:$cs},
    layers:[{mediaType:"application/vnd.docker.image.rootfs.diff.tar.gzip", digest:$l, size:$ls}]}' >img-manifest.json
code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H 'Content-Type: application/vnd.docker.distribution.manifest.v2+json' \
  --data-binary @img-manifest.json "http://$reg/v2/hyper/img/manifests/v1")
expect_eq "hyper/image-pushed" "$code" 201
by_ref POST "$(data_ref hyperimg "oci://$reg/hyper/img:v1")"
expect_code "hyper/image-layout-pulled" 200 "$sha_b"
expect_eq "hyper/served" "$(call_tool hyperimg-roll)" "B"
# a blob altered in the registry's storage (same size) is refused: its digest no longer matches
blob_file="$w/reg/data/docker/registry/v2/blobs/sha256/${layer_digest:7:2}/${layer_digest:7}/data"
if [[ -f "$blob_file" ]]; then
  python3 -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[len(b)//2]^=1; open(p,"wb").write(b)' "$blob_file"
  by_ref POST "$(data_ref hyperbad "$reg/hyper/img:v1")"
  expect_code "hyper/altered-blob-400" 400 "does not match its digest"
else
  fail "hyper/altered-blob-400" "no blob file at $blob_file"
fi

# sha256 pins on a multipart upload
upload POST "$A" "$(plugin_data up rollDice up-roll | jq -c --arg s "$sha_b" '. + {sha256:$s}')" dice_a.wasm
expect_code "pin/upload-mismatch-400" 400 "pins $sha_b"
[[ ! -e plugins/dice_a.wasm ]] && pass "pin/upload-mismatch-no-file" || fail "pin/upload-mismatch-no-file" "the file was stored"
upload POST "$A" "$(plugin_data up rollDice up-roll | jq -c --arg s "$sha_a" '. + {sha256:$s}')" dice_a.wasm
expect_code "pin/upload-match" 200
upload PUT "$B" "$(plugin_data up rollDice up-roll | jq -c --arg s "$sha_a" '. + {sha256:$s}')" dice_b.wasm
expect_code "pin/update-mismatch-400" 400
expect_eq "pin/update-mismatch-old-version-serves" "$(call_tool up-roll)" "A"

# publish --oci with the CLI: push, then the server pulls exactly that module (pinned)
cli plugin publish "$B" --oci "$reg/test/cli:v1" --name clidice --function clidice-roll:rollDice
if ((rc == 0)) && [[ "$out" == *"$sha_b"* ]]; then pass "cli/publish-oci"; else fail "cli/publish-oci" "exit $rc: $out $err"; fi
expect_eq "cli/publish-oci-served" "$(call_tool clidice-roll)" "B"

# restart with the registry stopped: stored copies serve, no pull
stop_server
stop_registry
start_server "$w/s1b.log" WASIMANCER_ADMIN_TOKEN="$ADMIN_TOKEN" WASIMANCER_AUTHENTICATION_TOKEN="$MCP_TOKEN" \
  PLUGINS_PATH="$w/plugins" UPLOAD_PATH="$w/plugins" WASIMANCER_OCI_REGISTRIES="127.0.0.1" -- ||
  { fail "restart/start" "the server did not start after a restart"; finish; }
expect_eq "restart/oci-plugin-survives" "$(call_tool dice-roll) $(call_tool clidice-roll)" "A B"
# a stored file altered on disk no longer matches its recorded sha256
stored="$(jq -r '.file' <<<"$(admin GET /plugins/dice; echo "$body")")"
stop_server
cp "$B" "$stored"
start_server "$w/s1c.log" WASIMANCER_ADMIN_TOKEN="$ADMIN_TOKEN" WASIMANCER_AUTHENTICATION_TOKEN="$MCP_TOKEN" \
  PLUGINS_PATH="$w/plugins" UPLOAD_PATH="$w/plugins" WASIMANCER_OCI_REGISTRIES="127.0.0.1" -- --skip-broken ||
  { fail "tamper/start" "the server did not start"; finish; }
if [[ "$(call_tool dice-roll)" == ERROR* ]] && grep -q "entry pins $sha_a" "$w/s1c.log"; then pass "tamper/altered-file-refused-at-start"
else fail "tamper/altered-file-refused-at-start" "dice-roll: $(call_tool dice-roll); log: $(tail -5 "$w/s1c.log")"; fi
stop_server
start_registry "$rport" || { fail "setup/registry-again" "docker-registry did not restart"; finish; }

# plugins.yml naming oci: without a path: pulled at start
mkdir -p "$w/p2"
cat >"$w/p2/plugins.yml" <<EOF
plugins:
  - name: fromyaml
    version: 1.0.0
    description: pulled at start
    oci: $reg/test/dice:v1
    sha256: $sha_a
    functions:
      - displayName: yaml-roll
        function: rollDice
        arguments: []
EOF
start_server "$w/s2.log" WASIMANCER_ADMIN_TOKEN="$ADMIN_TOKEN" WASIMANCER_AUTHENTICATION_TOKEN="$MCP_TOKEN" \
  PLUGINS_PATH="$w/p2" UPLOAD_PATH="$w/p2" WASIMANCER_OCI_REGISTRIES="127.0.0.1" -- ||
  { fail "yaml/start" "the server did not start"; finish; }
expect_eq "yaml/oci-entry-pulled-at-start" "$(call_tool yaml-roll)" "A"
stop_server
sed -i "s/$sha_a/$sha_b/" "$w/p2/plugins.yml"
start_server "$w/s2b.log" WASIMANCER_ADMIN_TOKEN="$ADMIN_TOKEN" WASIMANCER_AUTHENTICATION_TOKEN="$MCP_TOKEN" \
  PLUGINS_PATH="$w/p2" UPLOAD_PATH="$w/p2" WASIMANCER_OCI_REGISTRIES="127.0.0.1" -- >/dev/null 2>&1
if [[ -z "$server_port" ]] && grep -q "entry pins $sha_b" "$w/s2b.log"; then pass "yaml/pin-mismatch-refuses-start"
else fail "yaml/pin-mismatch-refuses-start" "log: $(tail -3 "$w/s2b.log")"; fi
stop_server

# --- a server with trusted keys: signatures required -------------------------------------------
rm -rf "$w/p3"; mkdir -p "$w/p3"
s3() {
  start_server "$w/s3.log" WASIMANCER_ADMIN_TOKEN="$ADMIN_TOKEN" WASIMANCER_AUTHENTICATION_TOKEN="$MCP_TOKEN" \
    PLUGINS_PATH="$w/p3" UPLOAD_PATH="$w/p3" WASIMANCER_OCI_REGISTRIES="127.0.0.1" WASIMANCER_TRUSTED_KEYS="$w/keys/trusted.pub" -- "$@"
}
s3 || { fail "signed/start" "the server did not start"; finish; }
sig_upload() {  # NAME FILE SIGNATURE-FILE|"": multipart upload with an optional signature part
  local extra=()
  [[ -n "$3" ]] && extra=(-F "signature=@$3")
  admin POST /upload-plugin -F "wasmFile=@$2" -F "pluginData=$(plugin_data "$1" rollDice "$1-roll")" "${extra[@]}"
}
sig_upload unsigned "$A" ""
expect_code "signed/unsigned-403" 403 "$trusted_id"
sig_upload wrongkey "$A" files/a.by-other.minisig
expect_code "signed/untrusted-key-403" 403 "$other_id"
sig_upload altered "$B" files/a.by-trusted.minisig
expect_code "signed/altered-module-403" 403 "does not match"
printf 'untrusted comment: x\nnot a signature\n' >files/garbage.minisig
sig_upload garbage "$A" files/garbage.minisig
expect_code "signed/garbage-signature-403" 403 "not valid"
expect_eq "signed/refused-nothing-published" "$(tools_list | tr -d '\n')" ""
sig_upload good "$A" files/a.by-trusted.minisig
expect_code "signed/minisign-signature-200" 200
admin GET /plugins/good
expect_eq "signed/admin-reports-key" "$(jq -r .signedBy <<<"$body")" "$trusted_id"
expect_eq "signed/served" "$(call_tool good-roll)" "A"

by_ref POST "$(data_ref pulledsigned "$reg/test/dice:v1")"
expect_code "signed/oci-signed-pull-200" 200 "$trusted_id"
by_ref POST "$(data_ref pulledunsigned "$reg/test/dice:unsigned")"
expect_code "signed/oci-unsigned-pull-403" 403 "not signed"

cli plugin publish "$B" --sign "$w/keys/trusted.key" --name clisigned --function clisigned-roll:rollDice
if ((rc == 0)) && [[ "$(jq -r .metadata.signedBy <<<"$out")" == "$trusted_id" ]]; then pass "signed/cli-sign"; else fail "signed/cli-sign" "exit $rc: $out $err"; fi
# the CLI's signature is a real minisign signature
"$bin" plugin push "$B" "$reg/test/forverify:v1" --sign "$w/keys/trusted.key" >/dev/null 2>&1
sigdigest="$(curl -s -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://$reg/v2/test/forverify/manifests/v1" | jq -r '.layers[1].digest')"
curl -s "http://$reg/v2/test/forverify/blobs/$sigdigest" >files/b.cli.minisig
if minisign -V -p keys/trusted.pub -m "$B" -x files/b.cli.minisig >/dev/null 2>&1; then pass "signed/cli-signature-verifies-with-minisign"
else fail "signed/cli-signature-verifies-with-minisign" "minisign -V refused: $(cat files/b.cli.minisig)"; fi
cli plugin publish "$A" --oci "$reg/test/clisigned:v1" --sign "$w/keys/other.key" --name cliother --function cliother-roll:rollDice
if ((rc != 0)) && [[ "$err" == *"$other_id"* ]]; then pass "signed/cli-oci-untrusted-key-refused"; else fail "signed/cli-oci-untrusted-key-refused" "exit $rc: $out $err"; fi

# restart: the signatures recorded in plugins.yml are checked again
stop_server
s3 || { fail "signed/restart" "the server did not restart"; finish; }
expect_eq "signed/restart-serves" "$(call_tool good-roll) $(call_tool pulledsigned-roll) $(call_tool clisigned-roll)" "A A B"
stored="$(admin GET /plugins/good; jq -r .file <<<"$body")"
stop_server
cp "$B" "$stored"
s3 --skip-broken || { fail "signed/tamper-start" "the server did not start"; finish; }
if [[ "$(call_tool good-roll)" == ERROR* ]] && grep -q "does not match the module" "$w/s3.log"; then pass "signed/altered-on-disk-refused-at-start"
else fail "signed/altered-on-disk-refused-at-start" "good-roll: $(call_tool good-roll); log: $(tail -3 "$w/s3.log")"; fi
expect_eq "signed/others-still-served" "$(call_tool pulledsigned-roll)" "A"
stop_server

# --- a registry with credentials (htpasswd): WASIMANCER_OCI_AUTH_FILE --------------------------
if command -v htpasswd >/dev/null; then
  mkdir -p reg2 "$w/p5"
  htpasswd -Bbn pusher s3cret-pw >reg2/htpasswd 2>/dev/null
  aport="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  printf 'version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\nauth:\n  htpasswd:\n    realm: test-realm\n    path: %s\n' \
    "$w/reg2/data" "$aport" "$w/reg2/htpasswd" >reg2/config.yml
  docker-registry serve reg2/config.yml >reg2/log 2>&1 &
  auth_registry_pid=$!
  for _ in $(seq 1 200); do
    [[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$aport/v2/")" == 401 ]] && break
    sleep 0.1
  done
  areg="127.0.0.1:$aport"
  printf '{"auths":{"%s":{"auth":"%s"}}}' "$areg" "$(printf 'pusher:s3cret-pw' | base64)" >reg2/auth.json
  printf '{"auths":{"%s":{"auth":"%s"}}}' "$areg" "$(printf 'pusher:wrong' | base64)" >reg2/wrong.json
  "$bin" plugin push "$A" "$areg/private/dice:v1" >"$w/out" 2>"$w/err"
  rc=$?
  if ((rc != 0)) && grep -q "needs credentials" "$w/err"; then pass "auth/push-without-credentials-refused"
  else fail "auth/push-without-credentials-refused" "exit $rc: $(cat "$w/err")"; fi
  WASIMANCER_OCI_AUTH_FILE="$w/reg2/auth.json" "$bin" plugin push "$A" "$areg/private/dice:v1" --sign keys/trusted.key >"$w/out" 2>"$w/err"
  rc=$?
  ((rc == 0)) && pass "auth/push-with-credentials" || fail "auth/push-with-credentials" "exit $rc: $(cat "$w/err")"
  s_auth() {  # AUTH-FILE|"": a server with trusted keys and the private registry allowed
    local extra=()
    [[ -n "$1" ]] && extra=(WASIMANCER_OCI_AUTH_FILE="$1")
    start_server "$w/s5.log" WASIMANCER_ADMIN_TOKEN="$ADMIN_TOKEN" WASIMANCER_AUTHENTICATION_TOKEN="$MCP_TOKEN" \
      PLUGINS_PATH="$w/p5" UPLOAD_PATH="$w/p5" WASIMANCER_OCI_REGISTRIES="127.0.0.1" WASIMANCER_TRUSTED_KEYS="$w/keys/trusted.pub" "${extra[@]}" --
  }
  s_auth "" || fail "auth/start" "the server did not start"
  by_ref POST "$(data_ref private "$areg/private/dice:v1")"
  expect_code "auth/pull-without-credentials-403" 403 "WASIMANCER_OCI_AUTH_FILE"
  stop_server
  s_auth "$w/reg2/wrong.json" || fail "auth/start" "the server did not start"
  by_ref POST "$(data_ref private "$areg/private/dice:v1")"
  expect_code "auth/pull-wrong-credentials-403" 403
  stop_server
  s_auth "$w/reg2/auth.json" || fail "auth/start" "the server did not start"
  by_ref POST "$(data_ref private "$areg/private/dice:v1")"
  expect_code "auth/pull-with-credentials" 200 "$trusted_id"
  expect_eq "auth/served" "$(call_tool private-roll)" "A"
  stop_server
  stop_auth_registry
else
  echo "note: htpasswd (apache2-utils) is not installed: the credentials checks are skipped"
fi

# --- a registry with the token flow (Docker Hub, GHCR): 401 + Bearer challenge, Basic credentials
# exchanged for a token at the realm, the token on every request ------------------------------------
token_pid=""
node "$root/tests/integration/dist-fixtures/token_registry.mjs" "$rport" tokenuser t0ken-pw >tokreg.port 2>tokreg.log &
token_pid=$!
for _ in $(seq 1 100); do [[ -s tokreg.port ]] && break; sleep 0.1; done
treg="127.0.0.1:$(head -1 tokreg.port)"
printf '{"auths":{"%s":{"auth":"%s"}}}' "$treg" "$(printf 'tokenuser:t0ken-pw' | base64)" >tokreg.good.json
printf '{"auths":{"%s":{"auth":"%s"}}}' "$treg" "$(printf 'tokenuser:wrong' | base64)" >tokreg.wrong.json
s_token() {  # AUTH-FILE: a server with the token registry's credentials
  start_server "$w/s6.log" WASIMANCER_ADMIN_TOKEN="$ADMIN_TOKEN" WASIMANCER_AUTHENTICATION_TOKEN="$MCP_TOKEN" \
    PLUGINS_PATH="$w/p6" UPLOAD_PATH="$w/p6" WASIMANCER_OCI_REGISTRIES="127.0.0.1" WASIMANCER_OCI_AUTH_FILE="$1" --
}
mkdir -p "$w/p6"
s_token "$w/tokreg.wrong.json" || fail "bearer/start" "the server did not start"
by_ref POST "$(data_ref tokened "$treg/test/dice:v1")"
expect_code "bearer/wrong-credentials-403" 403
stop_server
s_token "$w/tokreg.good.json" || fail "bearer/start" "the server did not start"
by_ref POST "$(data_ref tokened "$treg/test/dice:v1")"
expect_code "bearer/pull-with-token" 200 '"ociDigest"'
expect_eq "bearer/served" "$(call_tool tokened-roll)" "A"
if grep -q "^GET /token Basic -> 200" tokreg.log && grep -q "^GET /v2/test/dice/manifests/v1 Bearer -> 200" tokreg.log &&
   grep -q "^GET /v2/test/dice/blobs/sha256:$sha_a Bearer -> 200" tokreg.log; then pass "bearer/token-exchanged-and-sent"
else fail "bearer/token-exchanged-and-sent" "registry log: $(tr '\n' ';' <tokreg.log | head -c 600)"; fi
stop_server
kill "$token_pid" 2>/dev/null; wait "$token_pid" 2>/dev/null; token_pid=""

printf 'not a key\n' >keys/bad.pub
start_server "$w/s4.log" PLUGINS_PATH="$w/p3" UPLOAD_PATH="$w/p3" WASIMANCER_TRUSTED_KEYS="$w/keys/bad.pub" -- >/dev/null 2>&1
if [[ -z "$server_port" ]] && grep -q "WASIMANCER_TRUSTED_KEYS" "$w/s4.log"; then pass "settings/bad-trusted-keys-refuse-start"
else fail "settings/bad-trusted-keys-refuse-start" "log: $(tail -3 "$w/s4.log")"; fi
stop_server
finish
