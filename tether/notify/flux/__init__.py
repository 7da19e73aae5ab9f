"""Flux's notification API on Tether: ``Provider`` and ``Alert`` (``notification.toolkit.fluxcd.io
/v1beta3``) routing the events of the objects Tether reconciles (see docs/notifications.md)."""
