"""training — pure PyTorch, no Optuna.

Data as in-memory tensors, the small models, metrics, the one epoch loop (``epochs``) that solo
(``train``) and stacked training (``fused``, ``stacked_model``, ``stacked_layers``) share,
Schedule-Free's optimizer, a user's ``Task`` and ``--task`` loading.
"""
