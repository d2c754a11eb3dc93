"""Helpers for the book *Plasticity in continual quantum learning*.

One small package that every chapter imports: profiles (scale), devices (which simulator
and why), circuits (the SU(4) ansätze, defined once), a batched torch simulator, readouts,
models (QNN and MLP), metrics, plotting and widgets. Modules are imported on demand::

    from qcl_helpers import profiles, circuits, models
"""
__version__ = "0.1.0"

__all__ = ["circuits", "data", "devices", "metrics", "models", "plotting", "profiles",
           "readouts", "reference", "sim", "widgets"]
