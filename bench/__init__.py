"""The organisation-scale benchmark of `ecrwatch check` (issue 6): see bench/README.md."""
