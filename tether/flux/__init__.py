"""Flux's API (source.toolkit.fluxcd.io, kustomize.toolkit.fluxcd.io, helm.toolkit.fluxcd.io) on
Tether's engine: pure parts here (specs, substitution, generated kustomizations, statuses);
the controller part feeds them.
"""
