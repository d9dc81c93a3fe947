"""lrtune.report.plots: every plot is a PNG with content."""

from __future__ import annotations

from synthetic import is_png

from lrtune.report import (
    load_trials,
    plot_best_so_far,
    plot_confirmations,
    plot_expected_max,
    plot_learning_curves,
    plot_lr_curves,
)


def test_plots_are_pngs_with_content(full, tmp_path):
    import matplotlib.image

    df = load_trials(full)
    out = tmp_path / "plots"
    for plot in (
        plot_expected_max,
        plot_best_so_far,
        plot_lr_curves,
        plot_learning_curves,
        plot_confirmations,
    ):
        paths = plot(df, out)
        assert len(paths) == 1, plot.__name__
        path = paths[0]
        assert path.exists() and is_png(path) and "mnist1d-cnn-10ep-sgd" in path.name
        pixels = matplotlib.image.imread(path)
        assert pixels.shape[0] > 300 and pixels[..., :3].std() > 0.05  # not a blank canvas


def test_axis_labels_name_the_task_metric() -> None:
    import pandas as pd

    from lrtune.report.plots import score_labels

    frame = pd.DataFrame(
        {"task": ["a", "b"], "metric": ["accuracy", "loss"], "metric_direction": ["maximize", "minimize"]}
    )
    assert score_labels(frame, "a") == ("validation accuracy", "test accuracy")
    assert score_labels(frame, "b") == (
        "validation loss (minimised, compared as −loss)",
        "test loss (minimised, compared as −loss)",
    )
