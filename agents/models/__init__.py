"""The agents' records and what staff steer them with.

- ``Prompt`` / ``PromptVersion`` / ``PromptEvent``: the texts the pipeline sends, each
  version kept with its state (draft, in review, published, retired) and every step of
  its review; exactly one published version and at most one open draft per prompt.
- ``Provider``: an OpenAI-compatible endpoint in the fallback chain. The key is never
  stored, only the name of the environment variable that holds it.
- ``Rule``: a question pattern answered from a template, without a model.
- ``GuardPattern``: a scored prompt-injection pattern added by staff to the shipped ones.
- ``CachedAnswer``: the database tier of the answer cache.
- ``Document`` / ``Chunk``: the knowledge base, documents and the passages search reads.
- ``ToolSetting``: whether the model may call each registered tool.
- ``Run`` / ``Step``: what answered a reply and how, stage by stage: the one source for
  analytics. Written with the reply's final update, never a write per stage.
"""

from agents.models.knowledge import AUDIENCE_ORDER, Chunk, Document, audience_levels
from agents.models.prompts import Prompt, PromptEvent, PromptVersion
from agents.models.records import CachedAnswer, Run, Step
from agents.models.staff import (
    GuardPattern,
    Provider,
    Rule,
    ToolSetting,
    validate_key_variable,
    validate_regex,
)

__all__ = [
    "AUDIENCE_ORDER",
    "CachedAnswer",
    "Chunk",
    "Document",
    "GuardPattern",
    "Prompt",
    "PromptEvent",
    "PromptVersion",
    "Provider",
    "Rule",
    "Run",
    "Step",
    "ToolSetting",
    "audience_levels",
    "validate_key_variable",
    "validate_regex",
]
