// ESLint 9 flat config: typescript-eslint's `recommended` (syntax only, no type information, so it stays fast).
import js from "@eslint/js";
import { defineConfig, globalIgnores } from "eslint/config";
import globals from "globals";
import tseslint from "typescript-eslint";

export default defineConfig(
  globalIgnores(["**/node_modules/", "**/dist/", "proto/src/gen/", ".pot/", "coverage/", "bench/results/"]),
  {
    linterOptions: { reportUnusedDisableDirectives: "error" },
    languageOptions: { ecmaVersion: 2023, sourceType: "module", globals: { ...globals.node } },
  },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrorsIgnorePattern: "^_", ignoreRestSiblings: true },
      ],
      eqeqeq: ["error", "always", { null: "ignore" }],
    },
  },
  {
    // The layers (STYLE.md): a service's domain/ is pure. It decides from state and a command alone, so it
    // imports no Node built-in, no I/O library, no generated contract code, no other layer of its own
    // service and no other service; tests beside it may use node:test and node:assert.
    files: ["services/*/src/domain/**/*.ts"],
    ignores: ["**/*.test.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            { group: ["node:*"], message: "domain/ is pure: no Node built-ins (time and ids arrive in the command)." },
            {
              group: ["@pot/contracts", "@pot/contracts/*", "@pot/wire", "**/gen/**"],
              message: "domain/ never sees generated protobuf types: map them in adapters/ or @pot/wire.",
            },
            {
              group: [
                "@pot/event-store",
                "@pot/projections",
                "@pot/service-kit",
                "@pot/telemetry",
                "@pot/client",
                "@grpc/*",
                "@nats-io/*",
                "@opentelemetry/*",
                "kysely",
                "pg",
                "pino",
              ],
              message: "domain/ does no I/O: sockets, stores and telemetry belong in adapters/ or application/.",
            },
            {
              group: ["**/adapters/**", "**/application/**", "**/read-models/**", "**/events/**"],
              message: "domain/ is the innermost layer: it imports nothing from the layers around it.",
            },
            {
              group: [
                "@pot/identity",
                "@pot/matchmaker",
                "@pot/adjudicator",
                "@pot/identity/*",
                "@pot/matchmaker/*",
                "@pot/adjudicator/*",
              ],
              message: "a service's domain/ never imports another service: services meet only through events.",
            },
          ],
        },
      ],
    },
  },
);
