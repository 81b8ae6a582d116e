"""Importers of detection rules from other products' formats (Elastic TOML)."""
