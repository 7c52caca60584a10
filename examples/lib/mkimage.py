#!/usr/bin/env python3
"""Build a one-layer container image as a docker-archive tarball (the format
of `docker save`, which `ctr images import` and `podman load` accept), from a
rootfs tarball, without a registry.

usage: mkimage.py LAYER.tar OUT.tar NAME:TAG CMD [ARG...]

The archive holds manifest.json, the image config (<sha256>.json) and the
layer (<diff_id>/layer.tar). Standard library only.
"""

import hashlib
import io
import json
import platform
import sys
import tarfile

ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x"}


def add_bytes(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def main(argv):
    if len(argv) < 5:
        sys.stderr.write(__doc__)
        return 2
    layer_path, out_path, ref, cmd = argv[1], argv[2], argv[3], argv[4:]
    with open(layer_path, "rb") as f:
        layer = f.read()
    diff_id = hashlib.sha256(layer).hexdigest()
    config = {
        "architecture": ARCH.get(platform.machine(), platform.machine()),
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {"Cmd": cmd, "Env": ["PATH=/bin"], "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + diff_id]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "examples/lib/mkimage.py"}],
    }
    config_bytes = json.dumps(config, sort_keys=True).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    manifest = [{"Config": config_name, "RepoTags": [ref], "Layers": [diff_id + "/layer.tar"]}]
    with tarfile.open(out_path, "w") as tar:
        add_bytes(tar, config_name, config_bytes)
        add_bytes(tar, diff_id + "/layer.tar", layer)
        add_bytes(tar, "manifest.json", json.dumps(manifest).encode())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
