-- Memory's vector column (pgvector), only where the database offers the extension: a Postgres without pgvector
-- keeps memory full-text only (the gateway says so once at start). The column has no fixed dimension; the memory
-- service creates the HNSW index (cosine) for the configured dimension at start, as a partial expression index.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector') THEN
    BEGIN
      CREATE EXTENSION IF NOT EXISTS vector;
    EXCEPTION WHEN insufficient_privilege THEN
      RAISE NOTICE 'pgvector is available but this role may not create it: memory search stays full-text only';
    END;
  END IF;
  IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector') THEN
    EXECUTE 'ALTER TABLE memory_entries ADD COLUMN IF NOT EXISTS embedding vector';
  END IF;
END $$;
