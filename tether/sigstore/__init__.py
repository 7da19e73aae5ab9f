"""Sigstore signatures, verified offline: cosign's signatures of OCI artifacts, with public keys
or keyless (Fulcio certificates, Rekor log entries, certificate transparency timestamps) against
a trusted root. Pure: the caller fetches the signature manifest and payloads and hands them in.
"""
