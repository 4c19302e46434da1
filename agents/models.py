"""The agents' models: runs, steps, prompts and providers arrive with the next issue."""
