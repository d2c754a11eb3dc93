"""Helpers for the book *Plasticity in continual quantum learning*.

One small package that every chapter imports: profiles (scale), devices (which simulator
and why), circuits (the SU(4) ansätze, defined once), a fast batched torch simulator,
readouts, models (QNN and MLP), metrics, data loaders, the experiment registry, the
continual-learning engine, PPO glue for Ant, sweeps on Ray, XXZ spectra, Haar averages and
scaling measurements, plotting and widgets. Modules are imported on
demand (``rl`` needs the ``rl`` extra)::

    from qcl_helpers import profiles, circuits, models
"""
__version__ = "0.1.0"

__all__ = ["circuits", "claims", "configs", "continual", "data", "devices", "experiments", "haar", "metrics",
           "models", "plotting", "profiles", "readouts", "reference", "remedies", "results", "rl", "runner",
           "scaling", "selfcheck", "sim", "sweep", "theory", "widgets", "xxz"]
