"""The agents' admin: runs, steps, prompts and providers arrive with the next issue."""
