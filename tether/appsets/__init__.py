"""Argo CD's ApplicationSets: generators turn a set's spec into parameter sets, templates turn
each into an Application (see docs/applicationsets.md). This package is the pure part: no
cluster, no network; Git trees and cluster Secrets come in as plain data."""
