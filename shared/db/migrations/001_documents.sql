-- The document catalogue: one row per document, its metadata beside it.
-- id        the engine's numeric document id
-- tenant_id the owner (every query of a multi-tenant service filters by it)
-- published publication date
-- title     the document's title
-- meta      the engine's Doc.metadata (genre, source, ...), as jsonb
-- excerpt   the opening of the text (the full text stays in the engine's store)
CREATE TABLE docs (
  id        bigint PRIMARY KEY,
  tenant_id integer NOT NULL,
  published date    NOT NULL,
  title     text    NOT NULL,
  meta      jsonb   NOT NULL DEFAULT '{}'::jsonb,
  excerpt   text    NOT NULL DEFAULT ''
);
