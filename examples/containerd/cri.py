#!/usr/bin/env python3
"""A minimal CRI client: the calls the kubelet makes to run a pod, one per
invocation, so a shell script can drive containerd the way a node does.

Environment: CRI_SOCK (containerd's socket path), CRI_STATE (a directory
where pod sandbox configs and ids are kept between invocations).

  run-pod NAME HOSTPORT|-         RunPodSandbox (port 80/tcp -> HOSTPORT); prints the id
  start POD CTR IMAGE CMD...      CreateContainer + StartContainer; prints the id
  exec CTR CMD...                 ExecSync; prints stdout, exits with the command's status
  pod-ip POD                      the pod's IP from PodSandboxStatus
  pod-state POD                   SANDBOX_READY / SANDBOX_NOTREADY
  stop-pod POD                    StopPodSandbox (containerd runs CNI DEL with the netns)
  remove-pod POD                  RemovePodSandbox (containerd runs CNI DEL again, no netns)
  pods                            ListPodSandbox: one "id name state" line per pod
  cleanup                         stop and remove every pod sandbox

Needs the PyPI package container-runtime-interface-api (gRPC stubs of the CRI API v1).
"""

import json
import os
import sys

import grpc
from cri_api.v1 import api_pb2 as cri
from cri_api.v1 import api_pb2_grpc as cri_grpc
from google.protobuf import json_format

CGROUP_PARENT = os.environ.get("CRI_CGROUP_PARENT", "/cnix-containerd")
TIMEOUT = 60


def runtime():
    sock = os.environ["CRI_SOCK"]
    return cri_grpc.RuntimeServiceStub(grpc.insecure_channel("unix://" + sock))


def state_path(name):
    return os.path.join(os.environ["CRI_STATE"], name + ".json")


def save(name, pod_id, config):
    with open(state_path(name), "w") as f:
        json.dump({"id": pod_id, "config": json_format.MessageToDict(config)}, f)


def load(name):
    with open(state_path(name)) as f:
        saved = json.load(f)
    return saved["id"], json_format.ParseDict(saved["config"], cri.PodSandboxConfig())


def pod_config(name, hostport):
    logs = os.path.join(os.environ["CRI_STATE"], "logs", name)
    os.makedirs(logs, exist_ok=True)
    config = cri.PodSandboxConfig(
        metadata=cri.PodSandboxMetadata(name=name, uid="uid-" + name, namespace="cnix", attempt=0),
        hostname=name,
        log_directory=logs,
        linux=cri.LinuxPodSandboxConfig(cgroup_parent=CGROUP_PARENT),
    )
    if hostport != "-":
        config.port_mappings.append(
            cri.PortMapping(protocol=cri.TCP, container_port=80, host_port=int(hostport))
        )
    return config


def main(argv):
    if len(argv) < 2:
        sys.stderr.write(__doc__)
        return 2
    cmd, args = argv[1], argv[2:]
    rt = runtime()
    if cmd == "run-pod":
        name, hostport = args
        config = pod_config(name, hostport)
        resp = rt.RunPodSandbox(cri.RunPodSandboxRequest(config=config), timeout=TIMEOUT)
        save(name, resp.pod_sandbox_id, config)
        print(resp.pod_sandbox_id)
    elif cmd == "start":
        pod, name, image, command = args[0], args[1], args[2], args[3:]
        pod_id, sandbox_config = load(pod)
        config = cri.ContainerConfig(
            metadata=cri.ContainerMetadata(name=name, attempt=0),
            image=cri.ImageSpec(image=image),
            command=command,
            log_path=name + ".log",
        )
        created = rt.CreateContainer(
            cri.CreateContainerRequest(pod_sandbox_id=pod_id, config=config, sandbox_config=sandbox_config),
            timeout=TIMEOUT,
        )
        rt.StartContainer(cri.StartContainerRequest(container_id=created.container_id), timeout=TIMEOUT)
        print(created.container_id)
    elif cmd == "exec":
        resp = rt.ExecSync(cri.ExecSyncRequest(container_id=args[0], cmd=args[1:], timeout=10), timeout=30)
        sys.stdout.write(resp.stdout.decode(errors="replace"))
        sys.stderr.write(resp.stderr.decode(errors="replace"))
        return resp.exit_code
    elif cmd in ("pod-ip", "pod-state"):
        pod_id, _ = load(args[0])
        status = rt.PodSandboxStatus(cri.PodSandboxStatusRequest(pod_sandbox_id=pod_id), timeout=TIMEOUT).status
        print(status.network.ip if cmd == "pod-ip" else cri.PodSandboxState.Name(status.state))
    elif cmd == "stop-pod":
        pod_id, _ = load(args[0])
        rt.StopPodSandbox(cri.StopPodSandboxRequest(pod_sandbox_id=pod_id), timeout=TIMEOUT)
    elif cmd == "remove-pod":
        pod_id, _ = load(args[0])
        rt.RemovePodSandbox(cri.RemovePodSandboxRequest(pod_sandbox_id=pod_id), timeout=TIMEOUT)
    elif cmd == "pods":
        for pod in rt.ListPodSandbox(cri.ListPodSandboxRequest(), timeout=TIMEOUT).items:
            print(pod.id, pod.metadata.name, cri.PodSandboxState.Name(pod.state))
    elif cmd == "cleanup":
        failed = 0
        for pod in rt.ListPodSandbox(cri.ListPodSandboxRequest(), timeout=TIMEOUT).items:
            try:
                rt.StopPodSandbox(cri.StopPodSandboxRequest(pod_sandbox_id=pod.id), timeout=TIMEOUT)
                rt.RemovePodSandbox(cri.RemovePodSandboxRequest(pod_sandbox_id=pod.id), timeout=TIMEOUT)
            except grpc.RpcError as e:
                failed += 1
                sys.stderr.write("cleanup of %s failed: %s\n" % (pod.metadata.name, e.details()))
        return 1 if failed else 0
    else:
        sys.stderr.write("unknown command %r\n%s" % (cmd, __doc__))
        return 2
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except grpc.RpcError as e:
        sys.stderr.write("CRI %s: %s: %s\n" % (sys.argv[1], e.code().name, e.details()))
        sys.exit(1)
