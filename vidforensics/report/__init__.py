"""The report: schema, findings, and how it is written."""
