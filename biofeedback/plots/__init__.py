"""Figures: one builder per figure.

* :mod:`biofeedback.plots.live` — the Live page's practice chart and tachogram.
"""
