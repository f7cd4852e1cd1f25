#!/usr/bin/env bash
# Tests the Helm chart and the Dockerfile without helm, a cluster or a Docker engine:
#  1. builds render/ (a stand-in for `helm template`: Go text/template + sprig + Helm's functions)
#     in GOPATH mode against Debian's Go packages;
#  2. stages the chart with the repository's policies/ bundle (or fixtures/policies when the
#     repository has no bundle yet) in a scratch directory;
#  3. validate.mjs renders it for the default values and each values switch, checks the values
#     against values.schema.json and every object against the Kubernetes schemas
#     (kubernetes-models), and asserts probes, checksums, drain, schema rejections;
#  4. when an arbiterd build exists (ARBITERD, or build-test/ as scripts/test.sh leaves it),
#     serve.mjs runs it with the chart's args and rendered config over TLS (see its header);
#  5. checks that the Dockerfile builds the way CI does (scripts/install-deps.sh, scripts/build.sh).
# Needs: golang-go golang-github-masterminds-sprig-dev golang-gopkg-yaml.v3-dev, node + npm, and
# openssl for step 4 (all installed by scripts/install-deps.sh). Exits non-zero on any failure.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
chart="$repo/helm/arbiter"
fail() { echo "helm/test: $*" >&2; exit 1; }

for tool in go node npm; do
  command -v "$tool" >/dev/null || fail "$tool is missing: run scripts/install-deps.sh"
done
export GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS=
[ -d "$GOPATH/src/github.com/Masterminds/sprig" ] && [ -d "$GOPATH/src/gopkg.in/yaml.v3" ] ||
  fail "Go packages missing: apt-get install golang-github-masterminds-sprig-dev golang-gopkg-yaml.v3-dev"

# 1. Tools: node modules (pinned by package-lock.json) and the renderer.
stamp="$here/node_modules/.lock-stamp"
if [ ! -f "$stamp" ] || ! cmp -s "$here/package-lock.json" "$stamp"; then
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error) || fail "npm ci failed"
  cp "$here/package-lock.json" "$stamp"
fi
mkdir -p "$here/.build"
export GOCACHE="${GOCACHE:-$here/.build/gocache}"
(cd "$here" && go build -o .build/render ./render) || fail "building render/ failed"

# 2. Stage the chart with a bundle, as `cp -r policies/. helm/arbiter/policies/` would before install.
work="$here/out"
rm -rf "$work"
mkdir -p "$work/chart"
cp -r "$chart/." "$work/chart/"
if [ -f "$repo/policies/bundle.yaml" ]; then
  bundle="$repo/policies"
else
  bundle="$here/fixtures/policies"
  echo "# policies/bundle.yaml not in the repository yet: rendering with helm/test/fixtures/policies"
fi
cp -r "$bundle/." "$work/chart/policies/"

# 3. Render and validate.
node "$here/validate.mjs" --render "$here/.build/render" --chart "$work/chart" --work "$work"

# 3b. The real arbiterd with the chart's args and config (ports and mount paths moved here), when
#     a build exists (scripts/test.sh builds build-test/ before this harness runs).
arbiterd="${ARBITERD:-$repo/build-test/service/server/arbiterd}"
if [ -x "$arbiterd" ]; then
  node "$here/serve.mjs" --render "$here/.build/render" --chart "$work/chart" --work "$work/serve" \
    --arbiterd "$arbiterd"
else
  echo "# no arbiterd at $arbiterd (set ARBITERD or build build-test/): the chart was not served"
fi

# 4. The Dockerfile builds what CI builds.
dockerfile="$repo/Dockerfile"
[ -f "$dockerfile" ] || fail "no Dockerfile"
# Shell commands of a file: continuation lines joined, split at && and ;, whitespace collapsed.
commands() {
  sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$1" | sed -e 's/^[[:space:]]*RUN[[:space:]]\+//' |
    sed -e 's/&&/\n/g; s/;/\n/g' | sed -e 's/[[:space:]]\+/ /g; s/^ //; s/ $//' | grep -v '^$' || true
}
build_stage="$(awk '/^FROM /{n++} n==1' "$dockerfile")"
printf '%s\n' "$build_stage" > "$work/Dockerfile.build-stage"
commands "$work/Dockerfile.build-stage" > "$work/docker-commands"
grep -qx 'bash scripts/install-deps.sh --build-only' "$work/docker-commands" ||
  fail "the Dockerfile's build stage must run 'bash scripts/install-deps.sh --build-only' (as CI installs)"
grep -q '^FROM debian:bookworm' "$dockerfile" || fail "the Dockerfile must build FROM debian:bookworm"
if [ -f "$repo/scripts/build.sh" ]; then
  commands "$repo/scripts/build.sh" | grep '^cmake ' > "$work/ci-cmake" || true
  [ -s "$work/ci-cmake" ] || fail "no cmake command found in scripts/build.sh"
  source_of_truth="scripts/build.sh"
else
  # scripts/build.sh not written yet: hold the Dockerfile to the agreed build command.
  printf '%s\n' \
    'cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DARBITER_BUILD_TESTS=OFF -DARBITER_BUILD_BENCH=OFF' \
    'cmake --build build --target arbiterd arbiter' > "$work/ci-cmake"
  source_of_truth="the agreed build command (scripts/build.sh is missing)"
  echo "# scripts/build.sh not in the repository yet: checking the Dockerfile against the agreed cmake commands"
fi
grep '^cmake ' "$work/docker-commands" > "$work/docker-cmake" || true
if ! diff -u "$work/ci-cmake" "$work/docker-cmake"; then
  fail "the Dockerfile's build stage must run the same cmake commands as $source_of_truth (diff above: - CI, + Dockerfile)"
fi
uid="$(sed -n 's/^  runAsUser: \([0-9]\+\)$/\1/p' "$chart/values.yaml")"
grep -q "^USER $uid" "$dockerfile" || fail "the Dockerfile's USER must be the chart's runAsUser ($uid)"
echo "ok - the Dockerfile installs and builds as CI does ($(wc -l < "$work/ci-cmake") cmake commands, USER $uid)"
echo "helm/test: all checks passed"
