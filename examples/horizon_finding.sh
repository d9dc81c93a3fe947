#!/bin/bash
# The README's horizon finding on the default task (mnist1d, cnn1d, 15 epochs, SGD): every family
# including schedulefree, 8 trials each (fused 8 at a time: unpruned, as random search — TPE's
# first 10 trials are random anyway), then 5 confirmation seeds at 15 epochs and at 3x (45).
# Resumable: re-running skips finished trials and stored confirmation runs.
#   bash examples/horizon_finding.sh            # from the repository root
set -e
PY=${PY:-python}
DB=${DB:-sqlite:///studies/finding.db}
$PY -m lrtune.study --family all --trials 8 --fuse 8 --storage "$DB" --no-progress
$PY -m lrtune.analyze --storage "$DB" --confirm 5 --horizon 3 --out studies/report-finding
