/**
 * The Pulumi program. Reads and validates the whole stack config first (every bad key reported at
 * once, before any resource is registered), then composes the workbench.
 */
import * as pulumi from "@pulumi/pulumi";
import { parseConfig, PROJECT } from "./config";
import { createWorkbench } from "./workbench";

const all = pulumi.runtime.allConfig();
const cfg = parseConfig(
    Object.fromEntries(Object.entries(all).filter(([k]) => k.startsWith(`${PROJECT}:`))),
    { stack: pulumi.getStack(), project: pulumi.getProject(), region: all["aws:region"] },
);
const wb = createWorkbench(cfg);

export const mode = wb.mode;
export const instanceId = wb.instanceId;
export const clusterName = wb.clusterName;
export const ddpJobTemplate = wb.ddpJobTemplate;
export const connect = wb.connect;
export const jupyterUrl = wb.jupyterUrl;
export const tensorboardUrl = wb.tensorboardUrl;
export const jupyterToken = wb.jupyterToken;
export const imageUri = wb.imageUri;
export const bucketName = wb.bucketName;
export const kmsKeyArn = wb.kmsKeyArn;
export const workstationRoleArn = wb.workstationRoleArn;
export const smokeResultCommand = wb.smokeResultCommand;
export const estimatedCost = {
    runningPerHourUsd: wb.cost.runningPerHour,
    stoppedPerMonthUsd: wb.cost.stoppedPerMonth,
    prices: `${wb.cost.priceSource} (${wb.cost.priceDate})`,
    excludes: wb.cost.excludes,
};
