"""Installing the servers and drivers the harness runs (`harness setup`, `make setup`).

Stdlib only: `make setup` runs it with the machine's python3 before the virtualenv exists.
"""
