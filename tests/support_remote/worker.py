#!/usr/bin/env python3
"""A test-only REAPI worker for proxy-rpm's remote execution tests.

No BuildGrid worker ("bot") is published on a package registry, so the tests carry this one.
It uses BuildGrid's own client library: the Remote Workers API (Bots service) to take leases,
and the CAS helpers to fetch inputs and store outputs. Each action runs in podman, in the image
its `container-image` platform property names (`docker://REGISTRY/NAME@sha256:...`), pulled
from the registry every time, with exactly the command and environment the action gives (no
entry point: farms run the command as given). One JSON line per action goes to --record: the
properties received, the image, the image ID podman ran, the command's first words.

The test runs it under guard.py, which stops it when the test ends.
"""

import argparse
import io
import json
import os
import shutil
import subprocess
import tempfile

import grpc
from buildgrid._protos.build.bazel.remote.execution.v2 import remote_execution_pb2 as rex
from buildgrid._protos.google.devtools.remoteworkers.v1test2 import bots_pb2, bots_pb2_grpc
from buildgrid._protos.google.rpc import code_pb2, status_pb2
from buildgrid.server.client.cas import download, upload
from buildgrid.server.client.channel import setup_channel


def platform_of(action, command):
    platform = action.platform if action.HasField("platform") else command.platform
    return {p.name: p.value for p in platform.properties}


def run_action(channel, instance, args, action):
    with download(channel, instance=instance) as downloader:
        command = downloader.get_message(action.command_digest, rex.Command())
        root = tempfile.mkdtemp(prefix="action-", dir=args.scratch)
        downloader.download_directory(action.input_root_digest, root)
    properties = platform_of(action, command)
    image = properties.get("container-image", "")
    record = {"properties": properties, "arguments": list(command.arguments[:1])}
    if not image.startswith("docker://"):
        record["error"] = "no docker:// container-image property"
        append(args.record, record)
        return None, status_pb2.Status(
            code=code_pb2.FAILED_PRECONDITION, message="container-image=docker://... missing"
        )
    reference = image[len("docker://"):]
    workdir = os.path.join(root, command.working_directory)
    outputs = list(command.output_paths) or list(command.output_files) + list(
        command.output_directories
    )
    for path in outputs:
        os.makedirs(os.path.dirname(os.path.join(workdir, path)) or workdir, exist_ok=True)
    podman = [args.podman, "run", "--rm", "--quiet", "--pull=always", "--network=none", "--entrypoint="]
    podman += ["-v", f"{root}:{root}", "-w", workdir]
    for var in command.environment_variables:
        podman += ["-e", f"{var.name}={var.value}"]
    podman += [reference] + list(command.arguments)
    ran = subprocess.run(podman, capture_output=True)
    inspect = subprocess.run(
        [args.podman, "image", "inspect", "--format", "{{.Id}}", reference],
        capture_output=True,
        text=True,
    )
    record["image"] = reference
    record["image_id"] = inspect.stdout.strip()
    record["exit_code"] = ran.returncode
    append(args.record, record)

    result = rex.ActionResult(exit_code=ran.returncode)
    with upload(channel, instance=instance) as uploader:
        result.stdout_digest.CopyFrom(put(uploader, ran.stdout))
        result.stderr_digest.CopyFrom(put(uploader, ran.stderr))
        for path in outputs:
            full = os.path.join(workdir, path)
            if os.path.isdir(full) and not os.path.islink(full):
                tree = uploader.upload_tree(full, queue=False)
                result.output_directories.add(path=path, tree_digest=tree)
            elif os.path.isfile(full):
                digest = uploader.upload_file(full, queue=False)
                result.output_files.add(
                    path=path, digest=digest, is_executable=os.access(full, os.X_OK)
                )
        uploader.flush()
    shutil.rmtree(root, ignore_errors=True)
    return result, status_pb2.Status(code=code_pb2.OK)


def put(uploader, data):
    return uploader.put_blob(io.BytesIO(data), queue=False)


def append(path, record):
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record, sort_keys=True) + "\n")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--remote", required=True)
    parser.add_argument("--instance", default="")
    parser.add_argument("--record", required=True)
    parser.add_argument("--scratch", required=True)
    parser.add_argument("--podman", default="podman")
    parser.add_argument("--bot-id", default="proxy-rpm-test-worker")
    parser.add_argument("--auth-token", help="file with the farm's bearer token")
    args = parser.parse_args()

    channel, _ = setup_channel(args.remote, auth_token=args.auth_token)
    # Blocks until the farm listens: the test waits for the line below, not for a clock.
    grpc.channel_ready_future(channel).result(timeout=120)
    print("worker connected", flush=True)
    bots = bots_pb2_grpc.BotsStub(channel)
    session = bots_pb2.BotSession(bot_id=args.bot_id, status=bots_pb2.BotStatus.OK)
    session.worker.devices.add(handle=args.bot_id)
    session = bots.CreateBotSession(
        bots_pb2.CreateBotSessionRequest(parent=args.instance, bot_session=session), timeout=20
    )
    done = set()
    while True:
        for lease in session.leases:
            if lease.state != bots_pb2.LeaseState.ACTIVE or lease.id in done:
                continue
            action = rex.Action()
            if lease.payload.Is(rex.Action.DESCRIPTOR):
                lease.payload.Unpack(action)
            else:
                digest = rex.Digest()
                lease.payload.Unpack(digest)
                with download(channel, instance=args.instance) as downloader:
                    action = downloader.get_message(digest, rex.Action())
            try:
                result, status = run_action(channel, args.instance, args, action)
            except Exception as e:  # reported to the farm, so the test sees the failure
                result, status = None, status_pb2.Status(code=code_pb2.INTERNAL, message=str(e))
            if result is not None:
                lease.result.Pack(result)
            lease.status.CopyFrom(status)
            lease.state = bots_pb2.LeaseState.COMPLETED
            done.add(lease.id)
        try:
            session = bots.UpdateBotSession(
                bots_pb2.UpdateBotSessionRequest(name=session.name, bot_session=session),
                timeout=20,
            )
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
                raise


if __name__ == "__main__":
    main()
