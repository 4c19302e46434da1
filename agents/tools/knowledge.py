"""The knowledge_search tool: the model looks things up in the knowledge base itself.

The same hybrid search as the pipeline's own retrieval, limited to the documents the
asker may see (``ToolContext.audiences``): a tool call never reads a staff-only document
for a visitor. Passages are numbered among the reply's own (``ToolContext.passages``), so
the model cites them as it cites those retrieved for the question, and the reply's
sources name the right ones.
"""

from __future__ import annotations

from typing import Any

from agents.knowledge import search
from agents.knowledge.citations import passage_title
from agents.knowledge.types import Hit
from agents.tools.types import Tool, ToolContext

MAX_QUERY_CHARS = 500
MAX_LIMIT = 5
DEFAULT_LIMIT = 3
NOTHING = "No passages found."


def passages_text(hits: list[Hit], passages: list[Hit]) -> str:
    """The hits as the model reads them, each under its number among the reply's
    ``passages`` (a hit not among them yet is added, and numbered next)."""
    if not hits:
        return NOTHING
    parts = []
    for hit in hits:
        known = [p.chunk_id for p in passages]
        if hit.chunk_id in known:
            number = known.index(hit.chunk_id) + 1
        else:
            passages.append(hit)
            number = len(passages)
        parts.append(f"[{number}] {passage_title(hit)}\n{hit.text}")
    return "\n\n".join(parts)


def _knowledge_search(arguments: dict[str, Any], context: ToolContext) -> str:
    query = str(arguments.get("query", ""))[:MAX_QUERY_CHARS]
    # JSON schema's "integer" admits 3.0: make it a Python int before it slices anything.
    limit = min(max(int(arguments.get("limit", DEFAULT_LIMIT)), 1), MAX_LIMIT)
    hits = search.knowledge_search(query, limit=limit, audiences=context.audiences)
    return passages_text(hits, context.passages)


TOOL = Tool(
    name="knowledge_search",
    description=(
        "Search the organisation's knowledge base (its guides, policies and documents) and "
        "return the best matching passages, numbered, each under its document's title and "
        "headings. Use it for questions about the organisation, its products or its rules; "
        "search again with other words if the passages do not answer."
    ),
    parameters={
        "type": "object",
        "properties": {
            "query": {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_QUERY_CHARS,
                "description": "What to look for, in a few words or a question.",
            },
            "limit": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_LIMIT,
                "default": DEFAULT_LIMIT,
                "description": "How many passages to return.",
            },
        },
        "required": ["query"],
        "additionalProperties": False,
    },
    function=_knowledge_search,
    timeout=10.0,  # the question's embedding alone may take search.EMBED_TIMEOUT (5 s)
    label="the knowledge base",
    uses_database=True,
)
