"""Workers: the loops that move messages along: the dispatcher (hand-off and reports) and
the sweeper (expiry).
"""
