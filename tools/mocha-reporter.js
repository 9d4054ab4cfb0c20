/**
 * mocha's dot reporter, then the ten slowest test files (summed test durations; with two workers the
 * wall time is shorter), so a file that grows shows up in every `npm test`.
 */
"use strict";
/* eslint-disable @typescript-eslint/no-require-imports -- mocha loads reporters with require(): a CommonJS module */
const Mocha = require("mocha");
const path = require("path");
const { EVENT_TEST_PASS, EVENT_TEST_FAIL, EVENT_RUN_END } = Mocha.Runner.constants;

class SlowestFiles extends Mocha.reporters.Dot {
    constructor(runner, options) {
        super(runner, options);
        const byFile = new Map();
        const add = (test) => {
            const file = test.file ? path.relative(process.cwd(), test.file) : "(unknown)";
            byFile.set(file, (byFile.get(file) || 0) + (test.duration || 0));
        };
        runner.on(EVENT_TEST_PASS, add);
        runner.on(EVENT_TEST_FAIL, add);
        runner.once(EVENT_RUN_END, () => {
            const rows = [...byFile].sort((a, b) => b[1] - a[1]).slice(0, 10);
            const total = [...byFile.values()].reduce((a, b) => a + b, 0);
            process.stdout.write(`\n  slowest test files (sum of test durations; ${(total / 1000).toFixed(0)} s over ${byFile.size} files):\n`);
            for (const [file, ms] of rows) process.stdout.write(`    ${(ms / 1000).toFixed(1).padStart(6)} s  ${file}\n`);
        });
    }
}
module.exports = SlowestFiles;
