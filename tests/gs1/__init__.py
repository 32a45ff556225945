"""Tests of lineside.gs1."""
