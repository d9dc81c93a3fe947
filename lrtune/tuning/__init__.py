"""tuning — where Optuna meets training.

Storage openers and the keys lrtune stores, the validated configuration, the objective (the one
place Optuna meets training), pruning bounds, the run loop, worker processes and confirmation
runs (lrtune's own studies and ``lrtune.confirm`` for yours).
"""
