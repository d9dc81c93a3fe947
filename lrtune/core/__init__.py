"""core — the schedule maths and the Optuna search spaces over it.

``shapes`` (pure numpy multipliers), ``families`` (the one table of family facts),
``schedules`` (``Schedule``, ``ScheduleLR``), ``spaces`` (``suggest_schedule``, ``search_space``)
and ``recognize`` (lrtune's parameters inside anyone's study). Nothing here trains.
"""
