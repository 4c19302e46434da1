"""The agents' admin: what staff steer (prompts, providers, rules, guard patterns) and what
they read (runs with their steps, cached answers), one module per concern.

Runs and steps are records: read-only. A prompt's draft is edited until it is submitted or
published; from then on its text never changes (``agents.prompting``).
"""

from agents.admin import knowledge, prompts, providers, rules, runs, tools

__all__ = ["knowledge", "prompts", "providers", "rules", "runs", "tools"]
