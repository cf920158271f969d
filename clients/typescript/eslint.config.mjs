// The linter gate of run-tests.sh: ESLint's and typescript-eslint's recommended rules on the
// hand-written code; formatting is Prettier's (.prettierrc.json), and the generated stubs
// (src/gen, protoc-gen-es's output) and the build output stay out.
import js from "@eslint/js";
import tseslint from "typescript-eslint";
import globals from "globals";

export default tseslint.config({ ignores: ["dist/", "src/gen/", "node_modules/"] }, js.configs.recommended, tseslint.configs.recommended, {
  languageOptions: { globals: globals.node },
});
