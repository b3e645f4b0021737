"""Load and fault benchmark: the whole bot, as a separate process, under simulated customers and faults.

    python -m bench.load [--customers 50] [--minutes 3] [--scenario all|baseline|redis|openai|telegram|restart]

See `run.py` for one scenario end to end, `customers.py` for what a customer does and what
counts as an answer, `scenarios.py` for the faults and `report.py` for the figures.
"""
