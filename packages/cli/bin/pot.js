#!/usr/bin/env node
// The `pot` executable. It is committed with its executable bit (git keeps it), so `npx pot` works
// right after `npm ci` and a build, whatever file mode the compiler gives dist/main.js.
import "../dist/main.js";
