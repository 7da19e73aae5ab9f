"""The application controller: Argo CD's Application and AppProject brought to Tether's engine.

The pure pieces the reconcile loop builds on live in their own modules:

- :mod:`tether.controller.crds` — the ``argoproj.io/v1alpha1`` CRDs Tether installs;
- :mod:`tether.controller.models` — typed, validated views of an Application;
- :mod:`tether.controller.project` — AppProject parsing and its permission checks;
- :mod:`tether.controller.clusters` — Argo CD cluster Secrets and clients for their clusters.
"""
