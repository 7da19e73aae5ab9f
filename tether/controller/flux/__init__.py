"""Flux's ``GitRepository`` and ``Kustomization`` reconciled by the controller, on the same
mirrors, renderers and sync engine as Argo CD Applications (docs/flux.md).

``gitrepos``: a GitRepository's ref resolved and fetched, its artifact revision written.
``kustomize``: one Kustomization reconciled (build, apply, prune, health, status).
``part``: the watches, queue and triggers that drive both.
"""
