"""Budget enforcer (cluster mode): stops a researcher's GPU spending when AWS Budgets says their month is spent.

Runs as an AWS Lambda function (Python runtime: botocore is built in) subscribed to one SNS topic per researcher;
their budget's ACTUAL 100% notification publishes to it. The topic ARN names the researcher (this account's and
region's topics, ARCHAEO_TOPIC_ARN_PREFIX, and topics.json beside this file: topic name -> researcher id; in the package,
not the environment, whose 4 KB the cluster CA mostly takes), so the free-text budget message is never parsed. For that
researcher:

1. a ResourceQuota ``archaeo-budget-stop`` (``requests.nvidia.com/gpu: 0``) in their namespace: a second quota there
   makes the tighter one bind (Kubernetes "Resource Quotas"), so no new GPU pod of theirs is admitted; the hub's
   ValidatingAdmissionPolicy ``archaeo-budget-stop`` reads the same object as its parameter and refuses their server
   pod ``jupyter-<id>`` in the hub namespace while it exists (infra/cluster/budget-stop.ts);
2. their server pod ``jupyter-<id>`` deleted (the hub sees it gone and marks the server stopped);
3. their job pods deleted as a collection (their Jobs re-create them, but none that asks for a GPU past the quota).

Idempotent: an existing quota (409) and a pod already gone (404) are success. Nothing else is called: the EKS
bearer token is a presigned sts:GetCallerIdentity URL built locally (as ``aws eks get-token`` does, awscli
customizations/eks/get_token.py: the x-k8s-aws-id header signed in, 60 s, ``k8s-aws-v1.`` + unpadded base64url),
so the function needs no route to STS or the internet, only to the cluster's private endpoint.
"""
import base64
import json
import os
import ssl
import urllib.error
import urllib.request

import botocore.session

QUOTA = "archaeo-budget-stop"
TOKEN_PREFIX = "k8s-aws-v1."
K8S_AWS_ID_HEADER = "x-k8s-aws-id"
URL_TIMEOUT = 60


def eks_token(cluster_name, region, session=None):
    """A bearer token for the EKS API: a presigned GetCallerIdentity URL with the cluster's name signed in."""
    session = session or botocore.session.get_session()
    # The regional endpoint of the region's own partition (sts.<region>.amazonaws.com, .amazonaws.com.cn in China), as
    # botocore resolves it; older runtimes' botocore defaulted some regions to the global endpoint, so ask for regional.
    session.set_config_variable("sts_regional_endpoints", "regional")
    sts = session.create_client("sts", region_name=region)

    def retrieve(params, context, **_):
        if K8S_AWS_ID_HEADER in params:
            context[K8S_AWS_ID_HEADER] = params.pop(K8S_AWS_ID_HEADER)

    def inject(request, **_):
        if K8S_AWS_ID_HEADER in request.context:
            request.headers[K8S_AWS_ID_HEADER] = request.context[K8S_AWS_ID_HEADER]

    sts.meta.events.register("provide-client-params.sts.GetCallerIdentity", retrieve)
    sts.meta.events.register("before-sign.sts.GetCallerIdentity", inject)
    url = sts.generate_presigned_url("get_caller_identity", Params={K8S_AWS_ID_HEADER: cluster_name}, ExpiresIn=URL_TIMEOUT, HttpMethod="GET")
    return TOKEN_PREFIX + base64.urlsafe_b64encode(url.encode("utf-8")).decode("ascii").rstrip("=")


class Kube:
    """The few Kubernetes API calls the enforcer makes, over TLS verified against the cluster's CA only."""

    def __init__(self, endpoint, ca_pem, token):
        if not endpoint.startswith("https://"):
            raise ValueError(f"the cluster endpoint must be https: {endpoint}")
        self.endpoint = endpoint.rstrip("/")
        self.ctx = ssl.create_default_context(cadata=ca_pem)
        self.token = token

    def call(self, method, path, body=None, ok=(200, 201)):
        data = json.dumps(body).encode("utf-8") if body is not None else None
        req = urllib.request.Request(self.endpoint + path, data=data, method=method, headers={
            "Authorization": f"Bearer {self.token}", "Accept": "application/json", **({"Content-Type": "application/json"} if data else {}),
        })
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=20) as resp:
                return resp.status, json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as e:
            if e.code in ok:
                return e.code, {}
            raise RuntimeError(f"{method} {path}: HTTP {e.code} {e.read()[:300]!r}") from None


def quota(namespace, researcher):
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": QUOTA, "namespace": namespace, "labels": {"app.kubernetes.io/part-of": "archaeo-workbench", "archaeo/researcher": researcher}},
        # Extended resources take only the requests. prefix in a quota (Kubernetes "Resource Quotas", "Resource quota for
        # extended resources").
        "spec": {"hard": {"requests.nvidia.com/gpu": "0"}},
    }


def stop(kube, researcher, hub_namespace, namespace_prefix):
    """Quota, server, job pods: what was done, for the log."""
    ns = namespace_prefix + researcher
    done = []
    status, _ = kube.call("POST", f"/api/v1/namespaces/{ns}/resourcequotas", quota(ns, researcher), ok=(200, 201, 409))
    done.append(f"quota {ns}/{QUOTA}: {'already there' if status == 409 else 'created'}")
    server = f"jupyter-{researcher}"
    status, _ = kube.call("DELETE", f"/api/v1/namespaces/{hub_namespace}/pods/{server}", ok=(200, 202, 404))
    done.append(f"server {hub_namespace}/{server}: {'not running' if status == 404 else 'deleted'}")
    # Their job pods, as one collection (RBAC deletecollection: nothing is read). A Job re-creates its pods; one that
    # asks for a GPU is refused by the zero quota, so a GPU job waits until the stop is lifted. CPU-only pods restart.
    _, out = kube.call("DELETE", f"/api/v1/namespaces/{ns}/pods")
    done.append(f"pods in {ns}: {len(out.get('items', []))} deleted")
    return done


def load_topics():
    """topic name -> researcher id, shipped beside this file."""
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "topics.json"), encoding="utf-8") as f:
        return json.load(f)


def researchers_of(event, prefix, topics):
    """The researchers whose topics published the event's records; a topic of another account, region or name is refused."""
    out = []
    for record in event.get("Records", []):
        arn = record.get("Sns", {}).get("TopicArn", "")
        name = arn[len(prefix):] if arn.startswith(prefix) else None
        if name not in topics:
            raise ValueError(f"notification from {arn!r}, which is no researcher's budget topic")
        out.append(topics[name])
    return out


def handler(event, _context=None):
    env = os.environ
    who = researchers_of(event, env["ARCHAEO_TOPIC_ARN_PREFIX"], load_topics())
    token = eks_token(env["ARCHAEO_CLUSTER_NAME"], env["AWS_REGION"])
    kube = Kube(env["ARCHAEO_CLUSTER_ENDPOINT"], base64.b64decode(env["ARCHAEO_CLUSTER_CA"]).decode("ascii"), token)
    result = {r: stop(kube, r, env["ARCHAEO_HUB_NAMESPACE"], env["ARCHAEO_NAMESPACE_PREFIX"]) for r in who}
    print(json.dumps({"budgetStop": result}))
    return result
