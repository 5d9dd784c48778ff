#!/usr/bin/env bash
# The README's 5-minute tour, end to end, on a fresh embedded SQLite store (out/tour.db).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p out
rm -f out/tour.db out/tour.db-wal out/tour.db-shm
rm -rf out/notifications
export LINEAGE_URL="sqlite:///out/tour.db"

step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "${*:2}"; "${@:2}"; }

step "1. Register the pipeline" lineage register examples/fraud/manifest.yaml
step "   ...again: nothing changes" lineage register examples/fraud/manifest.yaml
step "2. What is affected if transactions.category changes?" \
    lineage impact transactions.category
step "3. Is a change to string breaking?" \
    lineage impact transactions.category --change type:string
step "4. Draw it" lineage graph transactions.category --both -o out/fraud.svg
step "   who depends on it, with contracts and channels" lineage consumers transactions.category
step "   announce the change: the consumers it breaks are notified" \
    lineage impact transactions.category --change type:string --notify --no-paths
step "   deliver the outbox (file sinks here; webhooks and email alike)" lineage notify deliver
step "   what the risk team received" \
    python -c "import json; m = json.loads(open('out/notifications/risk-team.ndjson').readline()); print(m['text'])"

step "5. Record-level data" python examples/fraud/make_data.py out
step "   fraud@2's predictions are AI-inferred" \
    lineage tag out/predictions.csv --dataset fraud.scores --field predicted_fraud \
    --key transaction_id --origin ai_inferred --agent fraud@2 --confidence-column confidence
step "   chargebacks are observed" \
    lineage tag out/chargebacks.csv --dataset fraud.labels --field is_fraud \
    --key transaction_id --origin observed --agent disputes-system
step "   who asserted what" lineage provenance fraud.scores

printf '\n\033[1m== 6. The guard refuses labels rebuilt from the predictions (exit 3 expected)\033[0m\n'
set +e
lineage check-training out/labels_exported.csv --key transaction_id --label is_fraud \
    --dataset fraud.training_labels --model fraud@3
code=$?
set -e
if [ "$code" -ne 3 ]; then echo "expected exit 3 (blocked), got $code" >&2; exit 1; fi

step "7. Training on confirmed labels passes the guard, then fits" \
    python examples/fraud/train.py out/labels_confirmed.csv

# Data health at job boundaries (README steps 8-10): stories 1 and 5 of STORIES.md.
step "8. Data health: the feature job's contract on transactions" \
    lineage register examples/fraud/health.yaml
step "   this week's batches" python examples/fraud/make_health_data.py out
printf '\n\033[1m== 8b. category arrives as text: validate catches what a lenient cast hides (exit 10 expected)\033[0m\n'
set +e
lineage validate out/transactions_batch.csv --dataset transactions
code=$?
set -e
if [ "$code" -ne 10 ]; then echo "expected exit 10 (violation), got $code" >&2; exit 1; fi

step "9. Profiles: what fraud@1, fraud@2 and fraud@3 trained on" \
    lineage profile out/user_features_2026-01.parquet --dataset user_features@2026-01
step "   " lineage profile out/user_features_2026-02.parquet --dataset user_features@2026-02
step "   " lineage profile out/user_features_2026-03.parquet --dataset user_features@2026-03

printf '\n\033[1m== 10. Production drifted from what fraud@1..3 trained on; lineage says who is behind it (exit 11 expected)\033[0m\n'
set +e
lineage drift out/user_features_prod.parquet --dataset user_features
code=$?
set -e
if [ "$code" -ne 11 ]; then echo "expected exit 11 (drift), got $code" >&2; exit 1; fi

step "11. Activity events land 4 hours late: the ingestion and feature runs, as OpenLineage" \
    lineage ingest out/late_events.ndjson
step "    who is past their SLA, and which run read data after its window closed" \
    lineage freshness --now 2026-04-02T12:00:00Z

step "12. Serving fills a missing age with 0, training with the median: the serving batch" \
    lineage validate out/fraud_requests.parquet --dataset fraud_requests --record --version 2026-04-02
step "    its profile" lineage profile out/fraud_requests.parquet --dataset fraud_requests@2026-04-02
step "    training-serving skew of fraud@3's inputs" lineage skew fraud@3

printf '\nTour done: the store is out/tour.db, the picture out/fraud.svg.\n'
printf 'Explore it further: export LINEAGE_URL=sqlite:///out/tour.db\n'
