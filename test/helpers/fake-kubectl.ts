/**
 * A fake `kubectl` for the restore Job's wait step: it answers `get job/NAME -o jsonpath=...` and
 * `wait --for=condition=C job/NAME` from a sequence of Job states (the n-th call sees states[n], the last repeats),
 * as kubectl would print them, and a `sleep` that returns at once. Nothing else is answered.
 *
 * kubectl's jsonpath prints every match of a filter separated by one space (k8s.io/client-go/util/jsonpath,
 * JSONPath.PrintResults); `kubectl wait` on a condition the object never reaches ends only at --timeout, with
 * "error: timed out waiting for the condition on jobs/NAME" and exit 1 (kubectl's wait.go): answered at once here.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { tmpDir } from "./tools";

export type JobConditions = Array<{ type: string; status: "True" | "False" }>;

/** The conditions a Job ends with (Kubernetes 1.31+: SuccessCriteriaMet/FailureTarget first; batch/v1 JobConditionType). */
export const JOB_STATES: Record<"running" | "complete" | "failed", JobConditions> = {
    running: [],
    complete: [{ type: "SuccessCriteriaMet", status: "True" }, { type: "Complete", status: "True" }],
    failed: [{ type: "FailureTarget", status: "True" }, { type: "Failed", status: "True" }],
};

const JSONPATH_TRUE_TYPES = "jsonpath={.status.conditions[?(@.status==\"True\")].type}";

/** Runs one shell line with the fake kubectl and sleep first on PATH; returns its status, output and the kubectl calls. */
export function runWithFakeKubectl(line: string, states: JobConditions[]): { status: number | null; stdout: string; stderr: string; calls: string[] } {
    const dir = tmpDir("archaeo-fake-kubectl-");
    // A POSIX sh script (a few ms a call): the n-th call reads types-n, the True conditions' types as kubectl prints them.
    states.forEach((st, i) => fs.writeFileSync(path.join(dir, `types-${i + 1}`), st.filter((c) => c.status === "True").map((c) => c.type).join(" ")));
    fs.writeFileSync(path.join(dir, "kubectl"), `#!/bin/sh
d='${dir}'
printf '%s\\n' "$*" >> "$d/calls"
n=$(wc -l < "$d/calls"); [ "$n" -gt ${states.length} ] && n=${states.length}
types=$(cat "$d/types-$n")
[ "$1" = -n ] && shift 2
case "$1 $2" in
  "get job/"*)
    [ "$3" = -o ] && [ "$4" = '${JSONPATH_TRUE_TYPES}' ] || { echo "fake kubectl: not answered: $*" >&2; exit 2; }
    printf '%s' "$types"; exit 0 ;;
  "wait "*)
    want=""; job=""
    for a in "$@"; do case "$a" in --for=condition=*) want=\${a#--for=condition=} ;; job/*) job=\${a#job/} ;; esac; done
    if printf ' %s ' "$types" | grep -qi " $want "; then echo "job.batch/$job condition met"; exit 0; fi
    echo "error: timed out waiting for the condition on jobs/$job" >&2; exit 1 ;;
esac
echo "fake kubectl: not answered: $*" >&2; exit 2
`, { mode: 0o755 });
    fs.writeFileSync(path.join(dir, "sleep"), "#!/bin/sh\nexit 0\n", { mode: 0o755 });
    const r = spawnSync("bash", ["-c", line], { env: { ...process.env, PATH: `${dir}:${process.env.PATH}` }, encoding: "utf8", timeout: 30_000 });
    const callsFile = path.join(dir, "calls");
    const calls = fs.existsSync(callsFile) ? fs.readFileSync(callsFile, "utf8").trim().split("\n") : [];
    fs.rmSync(dir, { recursive: true, force: true });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr, calls };
}
