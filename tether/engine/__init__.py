"""The sync engine: live state in, diff, health and sync plans out; knows nothing of Applications."""
