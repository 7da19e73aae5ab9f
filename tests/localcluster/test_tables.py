"""kubectl get prints the columns the server's Table answers define."""

from __future__ import annotations

from tether.localcluster.testing import Kubectl


def test_kubectl_get_shows_server_side_columns_for_builtins_and_crd_printer_columns(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl(
        "apply",
        "-n",
        namespace,
        "-f",
        "-",
        input="apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: '1', b: '2'}\n",
    )
    out = kubectl("get", "configmap", "c", "-n", namespace).stdout.splitlines()
    assert out[0].split() == ["NAME", "DATA", "AGE"]
    assert out[1].split()[:2] == ["c", "2"]
    kubectl(
        "apply",
        "-f",
        "-",
        input="""
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: lamps.tables.test}
spec:
  group: tables.test
  scope: Namespaced
  names: {plural: lamps, singular: lamp, kind: Lamp}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
    additionalPrinterColumns:
    - {name: Color, type: string, jsonPath: .spec.color}
    - {name: Ready, type: string, jsonPath: '.status.conditions[?(@.type=="Ready")].status'}
""",
    )
    kubectl("wait", "--for", "condition=established", "crd/lamps.tables.test")
    kubectl(
        "apply",
        "-n",
        namespace,
        "-f",
        "-",
        input="apiVersion: tables.test/v1\nkind: Lamp\nmetadata: {name: l1}\nspec: {color: red}\n",
    )
    out = kubectl("get", "lamps", "-n", namespace).stdout.splitlines()
    assert out[0].split() == ["NAME", "COLOR", "READY", "AGE"]
    assert out[1].split()[:2] == ["l1", "red"]
    wide = kubectl("get", "namespaces", namespace, "-o", "wide").stdout.splitlines()
    assert wide[0].split() == ["NAME", "STATUS", "AGE"]
    assert wide[1].split()[1] == "Active"
