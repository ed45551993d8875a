"""The sans-I/O protocol core: codec, router state machine, sender admission, conflict detection.

Standard library only: no sockets, no clock, no logging. Every entry point takes ``now`` and returns
what to do; the runtime layer carries that out.
"""
