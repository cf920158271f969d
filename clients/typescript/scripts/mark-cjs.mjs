// dist/cjs holds CommonJS modules inside a package of type "module": mark the directory so Node
// loads them as CommonJS (the "require" condition of package.json's exports points here).
import { writeFileSync } from "node:fs";
writeFileSync(new URL("../dist/cjs/package.json", import.meta.url), '{ "type": "commonjs" }\n');
