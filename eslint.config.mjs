// ESLint for the dashboard's ES modules (served as they are: no build step). CI installs eslint
// itself (.ci/run, `lint_js`); locally: `npx --yes -p eslint@10 -p @eslint/js@10 -p globals@17 eslint .`
import js from "@eslint/js";
import globals from "globals";

export default [
  { ignores: ["**/vendor/**", "**/*.min.js", ".venv/**", "node_modules/**", "test-artifacts/**"] },
  js.configs.recommended,
  {
    files: ["src/watchfloor/**/static/**/*.js"],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "module",
      globals: { ...globals.browser, L: "readonly" },
    },
    rules: {
      "no-unused-vars": ["error", { args: "after-used", argsIgnorePattern: "^_", caughtErrors: "none" }],
      eqeqeq: ["error", "smart"],
      "no-var": "error",
      "prefer-const": "error",
    },
  },
  {
    // classic scripts (not modules), e.g. the API docs page's Swagger UI start-up
    files: ["src/watchfloor/api/static/**/*.js"],
    languageOptions: { sourceType: "script", globals: { SwaggerUIBundle: "readonly" } },
  },
];
