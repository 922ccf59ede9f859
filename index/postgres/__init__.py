"""A PostgreSQL + pgvector store behind the same writer and reader contracts as the file index
(docs/scaling.md): selected by ``--store postgresql://…`` or ``$QA_STORE``."""


def generation_name(generation: int) -> str:
    """The name a store generation goes by (a file generation's folder name plays this part)."""
    return f"pg-{generation:06d}"
