DROP INDEX "runs_session_id_active_uq";--> statement-breakpoint
ALTER TABLE "sessions" ADD COLUMN "queue_mode" text;--> statement-breakpoint
ALTER TABLE "runs" ADD COLUMN "waiting" boolean DEFAULT false NOT NULL;--> statement-breakpoint
CREATE INDEX "runs_session_id_waiting_idx" ON "runs" USING btree ("session_id","created_at","id") WHERE "runs"."waiting";--> statement-breakpoint
CREATE INDEX "runs_session_id_idx" ON "runs" USING btree ("session_id");--> statement-breakpoint
CREATE UNIQUE INDEX "runs_session_id_active_uq" ON "runs" USING btree ("session_id") WHERE "runs"."session_id" is not null and "runs"."status" in ('queued', 'running', 'awaiting_approval') and not "runs"."waiting";