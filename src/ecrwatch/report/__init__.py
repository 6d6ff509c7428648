"""Formatters: each turns a models.Report into text (json, csv) or renders it for a person (table).

Import the one you need (ecrwatch.report.json, .csv, .table); only .table imports rich's tables.
"""
