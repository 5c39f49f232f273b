CREATE TABLE "model_usage" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"principal_id" text NOT NULL,
	"token_id" text,
	"route" text NOT NULL,
	"provider" text NOT NULL,
	"model" text NOT NULL,
	"status" integer NOT NULL,
	"input_tokens" integer,
	"output_tokens" integer,
	"duration_ms" integer NOT NULL,
	"request_id" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE INDEX "model_usage_principal_created_idx" ON "model_usage" USING btree ("principal_id","created_at");