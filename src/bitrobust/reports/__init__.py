"""Reports: tables (Markdown/CSV/JSON) and matplotlib figures of robustness results."""
