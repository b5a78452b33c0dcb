"""What every step stands on: the session (profile, answers, saved state), the step list, the summary, and the
small tools they share (atomic writes, one-line errors, progress, streamed commands, paths, TOML, host facts).

Serves every step. Imports nothing of wizard's but itself: the step packages build on core, never the reverse.
"""
