#!/usr/bin/env bash
# `make demo`: the main job end to end on the embedded default data, on this machine.
# 1. start the local broker + registry, 2. check the environment, 3. generate a small
# realistic data set with known answers, 4. publish its live part to Kafka, 5. run every
# job once, 6. compare gold with the generator's truth.
set -euo pipefail
cd "$(dirname "$0")/.."
AX=.venv/bin/advertisex
DEMO_DAYS=${DEMO_DAYS:-3}
DEMO_IMPRESSIONS=${DEMO_IMPRESSIONS:-20000}
t0=$(date +%s)
echo "== stack"
$AX stack up
echo "== environment check (Spark + Delta + broker + registry + Kafka connector)"
$AX run check --once
echo "== generate ${DEMO_DAYS} days x ${DEMO_IMPRESSIONS} impressions (seed 42) with ground truth"
$AX generate --days "$DEMO_DAYS" --impressions-per-day "$DEMO_IMPRESSIONS" --users 5000 --campaigns 20
echo "== produce the Kafka feeds"
$AX produce
echo "== pipeline --once"
$AX pipeline --once
echo "== gold vs the generator's independently computed truth"
.venv/bin/python scripts/compare_with_truth.py
echo "== the data-health report"
$AX report
echo "== demo finished in $(( $(date +%s) - t0 ))s. Where to look next:"
echo "   the report:  .run/report/health.html   (charts of traffic, campaigns, bids, quarantine, quality; opens offline)"
echo "   notebooks:   make notebook   (JupyterLab: campaign performance, attribution funnel, bid landscape, data quality)"
echo "   always on:   $AX pipeline    (runs every feed until Ctrl-C; then: $AX produce)"
echo "   console:     http://127.0.0.1:9090/consoles/advertisex.html   (Prometheus; alerts at :9090/alerts)"
echo "   data docs:   .run/quality/data_docs/index.html   (Great Expectations results)"
echo "   the lake:    .run/lake/ (Delta tables by layer)"
echo "   stop the stack with: make stack-down"
