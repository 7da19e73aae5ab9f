"""Notifications: Argo CD's notification settings, what a change fires, delivery to webhooks,
Slack and email (and, with `expr`, the trigger conditions)."""
