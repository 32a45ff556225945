"""Conformance tests against published test vectors."""
