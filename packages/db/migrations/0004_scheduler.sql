CREATE TABLE "commitments" (
	"id" text PRIMARY KEY NOT NULL,
	"principal_id" text NOT NULL,
	"agent_id" text NOT NULL,
	"session_key" text NOT NULL,
	"text" text NOT NULL,
	"due_at" timestamp with time zone NOT NULL,
	"status" text DEFAULT 'open' NOT NULL,
	"source_run_id" text,
	"follow_up_run_id" text,
	"note" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "commitments_status_ck" CHECK ("commitments"."status" in ('open', 'fulfilled', 'cancelled', 'followed_up'))
);
--> statement-breakpoint
CREATE TABLE "scheduled_tasks" (
	"id" text PRIMARY KEY NOT NULL,
	"principal_id" text NOT NULL,
	"name" text,
	"agent_id" text NOT NULL,
	"message" text NOT NULL,
	"session_key" text,
	"kind" text NOT NULL,
	"cron" text,
	"tz" text,
	"every_ms" bigint,
	"at" timestamp with time zone,
	"anchor_at" timestamp with time zone NOT NULL,
	"overlap" text DEFAULT 'skip' NOT NULL,
	"enabled" boolean DEFAULT true NOT NULL,
	"next_fire_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "scheduled_tasks_kind_ck" CHECK ("scheduled_tasks"."kind" in ('cron', 'every', 'once')),
	CONSTRAINT "scheduled_tasks_overlap_ck" CHECK ("scheduled_tasks"."overlap" in ('skip', 'queue'))
);
--> statement-breakpoint
CREATE TABLE "standing_orders" (
	"id" text PRIMARY KEY NOT NULL,
	"principal_id" text NOT NULL,
	"text" text NOT NULL,
	"agent_ids" jsonb,
	"enabled" boolean DEFAULT true NOT NULL,
	"position" bigint NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "task_fires" (
	"id" text PRIMARY KEY NOT NULL,
	"task_id" text NOT NULL,
	"fire_key" text NOT NULL,
	"trigger" text NOT NULL,
	"tick_at" timestamp with time zone NOT NULL,
	"fired_at" timestamp with time zone DEFAULT now() NOT NULL,
	"outcome" text NOT NULL,
	"reason" text,
	"run_id" text,
	"detail" jsonb
);
--> statement-breakpoint
ALTER TABLE "task_fires" ADD CONSTRAINT "task_fires_task_id_scheduled_tasks_id_fk" FOREIGN KEY ("task_id") REFERENCES "public"."scheduled_tasks"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "commitments_principal_id_created_at_idx" ON "commitments" USING btree ("principal_id","created_at","id");--> statement-breakpoint
CREATE INDEX "commitments_due_at_idx" ON "commitments" USING btree ("due_at") WHERE "commitments"."status" = 'open';--> statement-breakpoint
CREATE INDEX "scheduled_tasks_principal_id_created_at_idx" ON "scheduled_tasks" USING btree ("principal_id","created_at","id");--> statement-breakpoint
CREATE INDEX "scheduled_tasks_next_fire_at_idx" ON "scheduled_tasks" USING btree ("next_fire_at") WHERE "scheduled_tasks"."enabled" and "scheduled_tasks"."next_fire_at" is not null;--> statement-breakpoint
CREATE INDEX "standing_orders_principal_id_position_idx" ON "standing_orders" USING btree ("principal_id","position","id");--> statement-breakpoint
CREATE UNIQUE INDEX "task_fires_fire_key_uq" ON "task_fires" USING btree ("fire_key");--> statement-breakpoint
CREATE INDEX "task_fires_task_id_fired_at_idx" ON "task_fires" USING btree ("task_id","fired_at");--> statement-breakpoint
CREATE INDEX "task_fires_outcome_idx" ON "task_fires" USING btree ("outcome") WHERE "task_fires"."outcome" in ('pending', 'queued');