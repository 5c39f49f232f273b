ALTER TABLE "session_messages" ADD COLUMN "epoch" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "sessions" ADD COLUMN "epoch" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "sessions" ADD COLUMN "reset_at" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "sessions_principal_id_updated_at_idx" ON "sessions" USING btree ("principal_id","updated_at","id");