"""`cpay ui`: the Textual dashboard over PaymentsAPI.

Attributes down, messages up: screens render and react; every engine call runs in
a thread worker and reports back on the UI thread. Nothing here imports sqlite3,
grpc or psycopg: the dashboard knows only PaymentsAPI.
"""
