"""Helpers for the book *Plasticity in continual quantum learning*.

One small package that every chapter imports: profiles (scale), devices (which simulator
and why), circuits (the SU(4) ansätze, defined once), a fast batched torch simulator,
readouts, models (QNN and MLP), metrics, data loaders, the continual-learning engine, PPO
glue for Ant, XXZ spectra, Haar averages, plotting and widgets. Modules are imported on
demand (``rl`` needs the ``rl`` extra)::

    from qcl_helpers import profiles, circuits, models
"""
__version__ = "0.1.0"

__all__ = ["circuits", "continual", "data", "devices", "haar", "metrics", "models", "plotting", "profiles",
           "readouts", "reference", "results", "rl", "selfcheck", "sim", "theory", "widgets", "xxz"]
