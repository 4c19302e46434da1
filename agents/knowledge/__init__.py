"""The knowledge base: documents staff add, cut into passages, found by hybrid search.

Modules: ``types`` (what the steps hand each other), ``extract`` (a document's text and
headings from plain text, Markdown, HTML or PDF, refusing hostile files), ``chunking``
(passages by headings and length, with overlap), ``embeddings`` (vectors from the
provider's ``/v1/embeddings``), ``search`` (keyword search per database fused with
embedding similarity), ``ingest`` (the whole pipeline for one document, swapping its
chunks atomically), ``versioning`` (the knowledge base's version, part of cache keys).
"""
