"""The Super SIM API: resources, wire format, authentication, transport, pacing, errors,
signatures, the client, and acting as a child account.
"""
