"""The agents' admin: what staff steer (prompts, providers, rules, guard patterns) and what
they read (runs with their steps, cached answers), one module per concern.

Runs and steps are records: read-only. Prompt versions are never edited in place; a new
text is a new version.
"""

from agents.admin import prompts, providers, rules, runs

__all__ = ["prompts", "providers", "rules", "runs"]
