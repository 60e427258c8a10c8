#!/usr/bin/env bash
# Set everything up, then run the main job on a bundled real dataset (RTE, Snow et al. 2008):
# Bayesian Dawid-Skene with NUTS, gold held out and scored, soft labels -> soft_labels.parquet.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
exec .venv/bin/bayeslabels fit --dataset rte --model dawid-skene --method nuts --gold-use evaluate \
  --out soft_labels.parquet "$@"
