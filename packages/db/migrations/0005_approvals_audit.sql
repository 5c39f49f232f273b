CREATE TABLE "approval_rules" (
	"id" text PRIMARY KEY NOT NULL,
	"position" integer NOT NULL,
	"match" jsonb NOT NULL,
	"action" text NOT NULL,
	"reason" text,
	"source" text NOT NULL,
	"created_by" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "approval_rules_action_ck" CHECK ("approval_rules"."action" in ('allow', 'deny', 'ask'))
);
--> statement-breakpoint
CREATE TABLE "approvals" (
	"id" text PRIMARY KEY NOT NULL,
	"kind" text DEFAULT 'tool' NOT NULL,
	"run_id" text NOT NULL,
	"principal_id" text NOT NULL,
	"agent_id" text NOT NULL,
	"step" integer NOT NULL,
	"tool_call_id" text NOT NULL,
	"tool_name" text NOT NULL,
	"args_hash" text NOT NULL,
	"arguments" text NOT NULL,
	"status" text NOT NULL,
	"reason" text,
	"decided_by" text,
	"decided_at" timestamp with time zone,
	"expires_at" timestamp with time zone NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "approvals_status_ck" CHECK ("approvals"."status" in ('pending', 'allowed', 'denied', 'expired', 'cancelled')),
	CONSTRAINT "approvals_kind_ck" CHECK ("approvals"."kind" in ('tool', 'breakpoint'))
);
--> statement-breakpoint
CREATE TABLE "run_checkpoints" (
	"run_id" text PRIMARY KEY NOT NULL,
	"attempt" integer NOT NULL,
	"step" integer NOT NULL,
	"messages" jsonb NOT NULL,
	"calls" jsonb NOT NULL,
	"usage" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "audit_log" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"at" timestamp with time zone DEFAULT now() NOT NULL,
	"principal_id" text,
	"action" text NOT NULL,
	"target" text,
	"outcome" text NOT NULL,
	"detail" jsonb DEFAULT '{}'::jsonb NOT NULL
);
--> statement-breakpoint
ALTER TABLE "approvals" ADD CONSTRAINT "approvals_run_id_runs_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."runs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "run_checkpoints" ADD CONSTRAINT "run_checkpoints_run_id_runs_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."runs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "approval_rules_position_idx" ON "approval_rules" USING btree ("position");--> statement-breakpoint
CREATE UNIQUE INDEX "approvals_run_step_call_uq" ON "approvals" USING btree ("run_id","step","tool_call_id","kind");--> statement-breakpoint
CREATE INDEX "approvals_pending_expires_idx" ON "approvals" USING btree ("expires_at") WHERE "approvals"."status" = 'pending';--> statement-breakpoint
CREATE INDEX "approvals_principal_created_idx" ON "approvals" USING btree ("principal_id","created_at");--> statement-breakpoint
CREATE INDEX "audit_log_at_idx" ON "audit_log" USING btree ("at");--> statement-breakpoint
CREATE INDEX "audit_log_action_at_idx" ON "audit_log" USING btree ("action","at");--> statement-breakpoint
CREATE INDEX "audit_log_principal_at_idx" ON "audit_log" USING btree ("principal_id","at");