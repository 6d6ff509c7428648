"""Triage: what makes a run fail (fail.py), risk accepted in an ignore file (rules.py) or a VEX document
(vex.py), applied to a report (apply.py). Pure: files are read and checked before any AWS call, and nothing
here calls a service."""
