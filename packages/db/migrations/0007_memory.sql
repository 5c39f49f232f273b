CREATE TABLE "memory_entries" (
	"id" text PRIMARY KEY NOT NULL,
	"principal_id" text NOT NULL,
	"agent_id" text NOT NULL,
	"kind" text NOT NULL,
	"text" text NOT NULL,
	"tags" text[] DEFAULT '{}'::text[] NOT NULL,
	"session_key" text,
	"metadata" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"source" text DEFAULT 'api' NOT NULL,
	"untrusted" boolean DEFAULT false NOT NULL,
	"dedupe_hash" text,
	"writes" integer DEFAULT 1 NOT NULL,
	"ts_config" "regconfig" DEFAULT 'english'::regconfig NOT NULL,
	"search" "tsvector" GENERATED ALWAYS AS (to_tsvector(ts_config, text)) STORED NOT NULL,
	"embedding_state" text DEFAULT 'none' NOT NULL,
	"embedding_model" text,
	"embedding_dim" integer,
	"expires_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "memory_entries_kind_ck" CHECK (kind in ('fact', 'preference', 'event', 'note')),
	CONSTRAINT "memory_entries_embedding_state_ck" CHECK (embedding_state in ('none', 'pending', 'ready')),
	CONSTRAINT "memory_entries_source_ck" CHECK (source in ('api', 'tool'))
);
--> statement-breakpoint
CREATE INDEX "memory_entries_principal_id_agent_id_created_at_idx" ON "memory_entries" USING btree ("principal_id","agent_id","created_at","id");--> statement-breakpoint
CREATE INDEX "memory_entries_search_idx" ON "memory_entries" USING gin ("search");--> statement-breakpoint
CREATE INDEX "memory_entries_tags_idx" ON "memory_entries" USING gin ("tags");--> statement-breakpoint
CREATE UNIQUE INDEX "memory_entries_dedupe_uq" ON "memory_entries" USING btree ("principal_id","agent_id","dedupe_hash");--> statement-breakpoint
CREATE INDEX "memory_entries_expires_at_idx" ON "memory_entries" USING btree ("expires_at") WHERE expires_at is not null;--> statement-breakpoint
CREATE INDEX "memory_entries_embedding_state_idx" ON "memory_entries" USING btree ("embedding_state") WHERE embedding_state = 'pending';