"""CPay engine: the payment library behind every front end.

It never imports typer, textual, rich or cpay_cli (an import-linter contract checks it).
"""
