"""The knowledge base: documents staff add, cut into passages, found by hybrid search.

Modules: ``types`` (what the steps hand each other), ``extract`` (a document's text and
headings from plain text, Markdown, HTML or PDF, refusing hostile files), ``chunking``
(passages by headings and length, with overlap), ``embeddings`` (vectors from the
provider's ``/v1/embeddings``), ``keywords`` (ranking by words, per database),
``memory`` (a small knowledge base ranked in memory), ``search`` (keywords fused with
embedding similarity), ``visibility`` (ready documents of the reader's audiences),
``citations`` (passages in the prompt, the sources an answer cites), ``reading`` (the
read-only document page), ``ingest`` (the whole pipeline for one document, swapping its
chunks atomically).
"""
