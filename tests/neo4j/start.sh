#!/usr/bin/env bash
# Start an ephemeral Neo4j (community, Bolt on 127.0.0.1) for tests and development, and
# print its URL. Idempotent: when the one started earlier still answers, prints its URL.
#
#   export LINEAGE_TEST_NEO4J_URL="$(bash tests/neo4j/start.sh)"
#
# Needs Java 17+ and Maven; the first run downloads Neo4j from Maven Central (~1 min),
# later runs use ~/.m2. State lives in $LINEAGE_NEO4J_STATE (default /tmp/lineage-neo4j):
# url, pid, log. Stop it with: kill "$(cat /tmp/lineage-neo4j/pid)"
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
state="${LINEAGE_NEO4J_STATE:-/tmp/lineage-neo4j}"
mkdir -p "$state"

answers() {  # is the server of the URL file up?
    [[ -s "$state/url" && -s "$state/pid" ]] && kill -0 "$(cat "$state/pid")" 2>/dev/null \
        && (exec 3<>"/dev/tcp/127.0.0.1/${1##*:}") 2>/dev/null
}
if [[ -s "$state/url" ]] && answers "$(cat "$state/url")"; then
    cat "$state/url"
    exit 0
fi

echo "building the Neo4j launcher (first run downloads from Maven Central)" >&2
mvn -q -B -f "$here/pom.xml" package dependency:build-classpath \
    -Dmdep.outputFile="$here/target/classpath.txt" >&2
rm -f "$state/url"
# lineage's walk procedure goes in as a plugin jar, as on a real server (README, "The
# server-side walk"); LINEAGE_NEO4J_PLUGIN=off starts a server without it
rm -rf "$state/plugins" && mkdir -p "$state/plugins"
if [[ "${LINEAGE_NEO4J_PLUGIN:-on}" != off ]]; then
    cp "$here"/target/neo4j-launcher-*.jar "$state/plugins/"
fi
# Heap and page cache (LINEAGE_NEO4J_HEAP, LINEAGE_NEO4J_PAGECACHE; sizes like 2g): the
# defaults hold a 10^6-node graph; a 1 GiB heap spent a third of a bulk load collecting.
nohup java "-Xmx${LINEAGE_NEO4J_HEAP:-2g}" "-Dlineage.neo4j.pagecache=${LINEAGE_NEO4J_PAGECACHE:-1g}" \
    "-Dlineage.neo4j.plugins=$state/plugins" \
    -cp "$here/target/classes:$(cat "$here/target/classpath.txt")" \
    lineage.testing.Neo4jLauncher "${LINEAGE_NEO4J_PORT:-0}" "$state/url" \
    >"$state/log" 2>&1 </dev/null &
echo $! >"$state/pid"
for _ in $(seq 120); do
    if [[ -s "$state/url" ]]; then cat "$state/url"; exit 0; fi
    if ! kill -0 "$(cat "$state/pid")" 2>/dev/null; then break; fi
    sleep 1
done
echo "Neo4j did not start; its log ($state/log) ends:" >&2
tail -20 "$state/log" >&2
exit 1
