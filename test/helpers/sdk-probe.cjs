// Preloaded (NODE_OPTIONS=--require) by test/help.test.ts: at exit, names any Pulumi SDK module the process loaded,
// so `--help` is proven to print usage without loading the SDKs.
"use strict";
process.on("exit", () => {
    const loaded = Object.keys(require.cache).filter((k) => /[\\/]node_modules[\\/]@pulumi[\\/]/.test(k));
    if (loaded.length) process.stderr.write(`SDK-PROBE: loaded ${loaded.length} @pulumi module(s), e.g. ${loaded[0]}\n`);
    else process.stderr.write("SDK-PROBE: no @pulumi module loaded\n");
});
