"""Putting Tether on a real cluster: the objects (:mod:`.manifests`), their RBAC (:mod:`.rbac`),
and applying, upgrading, adopting and removing them (:mod:`.apply`). ``tether install`` is the
command; ``deploy/`` is generated from :func:`~tether.install.manifests.install_manifests`.

Kept light: the server and the controller command import :mod:`.names` and :mod:`.params`.
"""
