"""cpay: the command line (Typer) and, later, the dashboard (Textual) over PaymentsAPI."""
