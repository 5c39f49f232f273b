CREATE TABLE "api_tokens" (
	"id" text PRIMARY KEY NOT NULL,
	"principal_id" text NOT NULL,
	"name" text NOT NULL,
	"token_hash" text NOT NULL,
	"last4" text NOT NULL,
	"scopes" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"revoked_at" timestamp with time zone,
	CONSTRAINT "api_tokens_token_hash_uq" UNIQUE("token_hash")
);
--> statement-breakpoint
CREATE TABLE "session_messages" (
	"seq" bigserial PRIMARY KEY NOT NULL,
	"id" text NOT NULL,
	"session_id" text NOT NULL,
	"run_id" text,
	"role" text NOT NULL,
	"content" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "session_messages_id_uq" UNIQUE("id")
);
--> statement-breakpoint
CREATE TABLE "sessions" (
	"id" text PRIMARY KEY NOT NULL,
	"principal_id" text NOT NULL,
	"key" text NOT NULL,
	"agent_id" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "sessions_principal_id_key_uq" UNIQUE("principal_id","key")
);
--> statement-breakpoint
CREATE TABLE "run_events" (
	"run_id" text NOT NULL,
	"seq" integer NOT NULL,
	"type" text NOT NULL,
	"data" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "run_events_pk" PRIMARY KEY("run_id","seq")
);
--> statement-breakpoint
CREATE TABLE "runs" (
	"id" text PRIMARY KEY NOT NULL,
	"principal_id" text NOT NULL,
	"agent_id" text NOT NULL,
	"session_id" text,
	"mode" text NOT NULL,
	"status" text NOT NULL,
	"failure_reason" text,
	"error_message" text,
	"input" jsonb NOT NULL,
	"output" text,
	"model" text,
	"usage" jsonb,
	"idempotency_key" text,
	"request_id" text,
	"attempt" integer DEFAULT 0 NOT NULL,
	"lease_owner" text,
	"lease_expires_at" timestamp with time zone,
	"last_event_seq" integer DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "runs_status_ck" CHECK ("runs"."status" in ('queued', 'running', 'awaiting_approval', 'completed', 'failed', 'cancelled')),
	CONSTRAINT "runs_mode_ck" CHECK ("runs"."mode" in ('sync', 'async', 'stream')),
	CONSTRAINT "runs_failure_reason_ck" CHECK (("runs"."status" = 'failed') = ("runs"."failure_reason" is not null))
);
--> statement-breakpoint
CREATE TABLE "tool_calls" (
	"run_id" text NOT NULL,
	"step" integer NOT NULL,
	"tool_call_id" text NOT NULL,
	"name" text NOT NULL,
	"args_hash" text NOT NULL,
	"args" jsonb NOT NULL,
	"status" text NOT NULL,
	"result" text,
	"is_error" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "tool_calls_pk" PRIMARY KEY("run_id","step","tool_call_id"),
	CONSTRAINT "tool_calls_status_ck" CHECK ("tool_calls"."status" in ('started', 'succeeded', 'failed'))
);
--> statement-breakpoint
ALTER TABLE "session_messages" ADD CONSTRAINT "session_messages_session_id_sessions_id_fk" FOREIGN KEY ("session_id") REFERENCES "public"."sessions"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "run_events" ADD CONSTRAINT "run_events_run_id_runs_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."runs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "tool_calls" ADD CONSTRAINT "tool_calls_run_id_runs_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."runs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "api_tokens_principal_id_idx" ON "api_tokens" USING btree ("principal_id");--> statement-breakpoint
CREATE INDEX "session_messages_session_id_seq_idx" ON "session_messages" USING btree ("session_id","seq");--> statement-breakpoint
CREATE UNIQUE INDEX "runs_principal_id_idempotency_key_uq" ON "runs" USING btree ("principal_id","idempotency_key") WHERE "runs"."idempotency_key" is not null;--> statement-breakpoint
CREATE UNIQUE INDEX "runs_session_id_active_uq" ON "runs" USING btree ("session_id") WHERE "runs"."session_id" is not null and "runs"."status" in ('queued', 'running', 'awaiting_approval');--> statement-breakpoint
CREATE INDEX "runs_status_lease_expires_at_idx" ON "runs" USING btree ("status","lease_expires_at");--> statement-breakpoint
CREATE INDEX "runs_principal_id_created_at_idx" ON "runs" USING btree ("principal_id","created_at");