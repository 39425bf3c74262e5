"""What every process shares: settings, the Temporal connection, the payload codec, the event loop
and the collector's tuning.
"""
