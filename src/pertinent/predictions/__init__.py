"""Predictive traits on the stored data: training, the model registry, scoring into profiles, drift."""
