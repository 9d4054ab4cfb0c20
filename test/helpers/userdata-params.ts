/** One workstation's user-data parameters, shared by the user-data tests and the same-bytes tests (whose golden sha256 is of these). */
import type { UserDataParams } from "../../infra/instance/userdata";

export const SAMPLE_USER_DATA_PARAMS: UserDataParams = Object.freeze({
    researcherId: "alice",
    region: "eu-west-2",
    workspaceVolumeId: "vol-0123456789abcdef0",
    ssmPath: "/archaeo/x/prod/researchers/alice",
    dataBucket: "archaeo-x-123456789012-eu-west-2",
    kmsKeyArn: "arn:aws:kms:eu-west-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    accessMode: "ssm",
    memoryGiB: 32,
    vcpus: 8,
    gpus: 1,
    idleMinutes: 45,
    gpuIdlePercent: 7,
});
