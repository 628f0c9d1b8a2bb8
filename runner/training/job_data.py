"""A training job's data on one host: config files and channels in, checkpoints both ways,
artifacts out. ``file://`` locations are bound into the container as they are; ``s3://``
ones go through S3 (staged into the workspace, fed through FIFOs, synced, uploaded).

Nothing here builds an AWS client unless the request names an ``s3://`` location.

Links in a ``file://`` channel's folder (which may be a former checkpoint folder a container
wrote) are never followed, in every mode and distribution: only regular files are channel
data, as S3 has no links. A symlink (absolute, ``../`` out of the folder, to a folder, a loop),
a FIFO, a device or a socket is left out with a warning: File mode stages the folder's regular
files instead of binding a folder that holds any (hard links, or copies read without following
links), ShardedByS3Key shares out the regular files only, and Pipe mode streams only them,
each opened without following a link (one swapped in meanwhile fails the job with a
ClientError naming the channel and the file). The job's containers never starting (the image,
the data) means no artifacts are written, as SageMaker writes none for a job that never trained.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runner.aws import s3
from runner.aws.clients import AwsClients, AwsError
from runner.aws.s3 import parse_s3_url
from runner.contract import paths as files
from runner.contract.channels import (
    ChannelError,
    ChannelSpec,
    channel_specs,
    host_share,
    parse_manifest,
    plan_manifest,
)
from runner.core import safe_files
from runner.core.archives import UnsafeArchive
from runner.core.safe_files import FolderScan
from runner.core.specs import Spec, resolve_file_uri
from runner.engines.base import Mount, Workspace
from runner.training.checkpoints import CheckpointSync
from runner.training.pipes import PipeFeeder, PipeObject
from runner.training.staging import ObjectCache, StagedChannel, plan_s3_channel, stage_s3_channel

log = logging.getLogger(__name__)

#: Errors that fail a job as the service's ClientError (bad data or location, not a bug).
DATA_ERRORS = (ChannelError, AwsError, UnsafeArchive, OSError)
CHUNK = 1024 * 1024
#: In a host's workspace (not mounted): the job's containers started, so it has artifacts.
STARTED_MARKER = "containers-started"


def uses_s3(request: dict[str, Any]) -> bool:
    """Whether any location of the request is an s3:// one."""
    uris = [((c.get("DataSource") or {}).get("S3DataSource") or {}).get("S3Uri")
            for c in request.get("InputDataConfig") or []]
    uris.append((request.get("OutputDataConfig") or {}).get("S3OutputPath"))
    uris.append((request.get("CheckpointConfig") or {}).get("S3Uri"))
    return any(isinstance(u, str) and u.startswith("s3://") for u in uris)


def output_uri(request: dict[str, Any], spec: Spec) -> str:
    """``<S3OutputPath>/<job>/output`` (a file:// path resolved to an absolute one)."""
    base = request["OutputDataConfig"]["S3OutputPath"]
    job = request["TrainingJobName"]
    if base.startswith("s3://"):
        return f"{base.rstrip('/')}/{job}/output"
    return f"file://{resolve_file_uri(base, spec.base_dir) / job / 'output'}"


class JobData:
    """Prepared before the container starts, running beside it, finished after it."""

    def __init__(
        self,
        spec: Spec,
        aws: Callable[[], AwsClients],
        cache: ObjectCache,
        host: str,
        hosts: list[str],
        on_error: Callable[[str], None] | None = None,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.spec = spec
        self.request = spec.request
        self._aws = aws
        self._cache = cache
        self.host = host
        self.hosts = hosts
        self._on_error = on_error  # a failure that must end the job (a Pipe channel's data)
        self._warn = warn  # worth telling, not worth failing for (a checkpoint sync retried)
        self.feeders: list[PipeFeeder] = []
        self.checkpoints: CheckpointSync | None = None
        self.staged: list[StagedChannel] = []
        self._workspace: Workspace | None = None
        self._ran = False  # the job's containers started (this process saw them)

    @property
    def host_index(self) -> int:
        return self.hosts.index(self.host)

    def _s3(self) -> Any:
        return self._aws().s3()

    # -- before the container starts ------------------------------------------------------------
    def prepare(self, workspace: Workspace) -> None:
        """Config files, channels (mounted, staged or piped) and checkpoints (mounted or seeded),
        on a workspace as a new instance has it (also after a restart)."""
        self._workspace = workspace
        self.feeders, self.staged, self.checkpoints = [], [], None
        request = self.request
        algo = request["AlgorithmSpecification"]
        channels = request.get("InputDataConfig") or []
        workspace.write_text("input/config/hyperparameters.json",
                             files.hyperparameters_json(request.get("HyperParameters")))
        workspace.write_text(
            "input/config/resourceconfig.json",
            json.dumps(files.resource_config(request["ResourceConfig"]["InstanceType"],
                                             self.hosts, self.host), indent=2),
        )
        workspace.write_text(
            "input/config/inputdataconfig.json",
            json.dumps(files.input_data_config(channels, algo.get("TrainingInputMode", "File")),
                       indent=2),
        )
        for channel in channel_specs(request):
            if channel.mode == "Pipe":
                feeder = self._feeder(channel, workspace, first_epoch=0)
                feeder.prepare()
                self.feeders.append(feeder)
            elif channel.is_s3:
                planned = plan_s3_channel(self._s3(), channel, self.host_index, len(self.hosts))
                if not planned:
                    self._empty_share(channel)
                self.staged.append(stage_s3_channel(self._s3(), channel, planned, workspace,
                                                    self._cache))
            elif channel.sharded and len(self.hosts) > 1:
                self._stage_file_share(channel, workspace)
            else:
                self._mount_file_channel(channel, workspace)
        ckpt = request.get("CheckpointConfig")
        if ckpt:
            if ckpt["S3Uri"].startswith("s3://"):
                self.checkpoints = self._checkpoint_sync(ckpt, workspace)
                self.checkpoints.seed()
                workspace.add_mount(Mount(str(self.checkpoints.folder), files.checkpoint_dir(ckpt)))
            else:
                local_dir = resolve_file_uri(ckpt["S3Uri"], self.spec.base_dir)
                local_dir.mkdir(parents=True, exist_ok=True)
                workspace.add_mount(Mount(str(local_dir), files.checkpoint_dir(ckpt)))

    def _mount_file_channel(self, channel: ChannelSpec, workspace: Workspace) -> None:
        """A ``file://`` channel every host gets whole. File mode: its regular files copied
        into the host's channel folder, which the container may change, as the files on a
        SageMaker instance's volume (the SDK's ModelTrainer makes its scripts executable
        there); the sources never change. FastFile: its folder (or file) bound read-only as it
        is (SageMaker's FastFile mount is read-only). A folder holding links, FIFOs or devices
        is staged either way, its regular files only, so the container never sees what was
        left out."""
        found = self._scan_file_channel(channel)
        if found.skipped or channel.mode == "File":
            sources = found.sources(list(found.files))
            workspace.add_channel_files(channel.name, sources, root=found.root,
                                        writable=channel.mode == "File")
            return
        source = resolve_file_uri(channel.uri, self.spec.base_dir)
        target = f"{files.DATA_DIR}/{channel.name}"
        if found.named_file:
            target = f"{target}/{source.name}"
        workspace.add_mount(Mount(str(source), target, read_only=True))

    def _stage_file_share(self, channel: ChannelSpec, workspace: Workspace) -> None:
        """A ``file://`` channel sharded between several hosts: this host's share of its
        regular files, copied (File mode: writable) or linked (FastFile), never following a
        link, into the host's own channel folder (the whole folder is not mounted)."""
        found = self._scan_file_channel(channel)
        names = host_share(channel, list(found.files), self.host_index, len(self.hosts))
        if not names:
            self._empty_share(channel)
        workspace.add_channel_files(channel.name, found.sources(names), root=found.root,
                                    writable=channel.mode == "File")

    def _empty_share(self, channel: ChannelSpec) -> None:
        self._tell(f"channel {channel.name!r}: host {self.host} gets none of its data: "
                   f"ShardedByS3Key shares out fewer objects under {channel.uri} than there are "
                   f"hosts ({len(self.hosts)}); its channel folder is empty, as a SageMaker "
                   "node's would be")

    def _scan_file_channel(self, channel: ChannelSpec) -> FolderScan:
        """The regular files of a ``file://`` channel; what is not one (a link of any kind, a
        FIFO, a device) is left out with a warning (told once, by the first host)."""
        try:
            found = safe_files.scan(resolve_file_uri(channel.uri, self.spec.base_dir))
        except FileNotFoundError:
            raise ChannelError(f"channel {channel.name!r}: {channel.uri} does not exist") from None
        except safe_files.UnsafeFile as exc:
            raise ChannelError(f"channel {channel.name!r}: {exc}") from None
        if found.skipped and self.host_index == 0:
            shown = ", ".join(f"{rel!r} ({what})" for rel, what in found.skipped[:5])
            more = f" and {len(found.skipped) - 5} more" if len(found.skipped) > 5 else ""
            self._tell(f"channel {channel.name!r}: left out what is not a regular file under "
                       f"{channel.uri} (never followed nor read; S3 has no links): {shown}{more}")
        return found

    def _tell(self, message: str) -> None:
        if self._warn is not None:
            self._warn(message)
        else:
            log.warning("smlocal: %s", message)

    def reattach(self, workspace: Workspace) -> None:
        """A job resumed while its container runs: feed the latest FIFO of each Pipe channel
        again and carry on syncing checkpoints."""
        self._workspace, self._ran = workspace, True
        data = workspace.local_folder("input/data")
        for channel in channel_specs(self.request):
            if channel.mode == "Pipe":
                epochs = [int(m.group(1)) for p in data.iterdir()
                          if (m := re.fullmatch(re.escape(channel.name) + r"_(\d+)", p.name))]
                self.feeders.append(self._feeder(channel, workspace,
                                                 first_epoch=max(epochs, default=0)))
        ckpt = self.request.get("CheckpointConfig")
        if ckpt and ckpt["S3Uri"].startswith("s3://"):
            self.checkpoints = self._checkpoint_sync(ckpt, workspace)
            self.checkpoints.adopt_remote()

    def _checkpoint_sync(self, ckpt: dict[str, Any], workspace: Workspace) -> CheckpointSync:
        return CheckpointSync(self._s3(), parse_s3_url(ckpt["S3Uri"]),
                              workspace.local_folder("checkpoints"),
                              on_error=self._warn, shared=len(self.hosts) > 1)

    # -- while it runs ------------------------------------------------------------------------
    def start(self) -> None:
        """The job's containers all started: feed and sync (and remember they started)."""
        self._ran = True
        if self._workspace is not None:
            self._workspace.write_text(STARTED_MARKER, "the job's containers started\n")
        for feeder in self.feeders:
            feeder.start()
        if self.checkpoints is not None:
            self.checkpoints.start()

    def stop(self, final_sync: bool = True) -> None:
        """Stop feeding; sync the checkpoints one last time (raises when that fails)."""
        for feeder in self.feeders:
            feeder.stop()
        if self.checkpoints is not None:
            self.checkpoints.stop(final_sync)

    # -- at the end -----------------------------------------------------------------------------
    def upload(self, workspace: Workspace) -> str | None:
        """model.tar.gz and output.tar.gz under ``<S3OutputPath>/<job>/output/``; returns the
        model's URI. None, writing nothing, when the job's containers never started (the image
        failed to start, the data could not be staged; also after a resume): SageMaker writes
        no artifacts for a job that never trained."""
        if not self._ran and workspace.read_text(STARTED_MARKER, 1) is None:
            return None
        base = output_uri(self.request, self.spec)
        if not base.startswith("s3://"):
            output_path = self.request["OutputDataConfig"]["S3OutputPath"]
            within = resolve_file_uri(output_path, self.spec.base_dir)
            folder = Path(base[len("file://"):])
            workspace.archive("model", str(folder / "model.tar.gz"), within=str(within))
            workspace.archive("output/data", str(folder / "output.tar.gz"), within=str(within))
            return f"{base}/model.tar.gz"
        url = parse_s3_url(base)
        staging = workspace.local_folder("artifacts")
        names = ("model.tar.gz", "output.tar.gz")
        try:
            for relpath, name in zip(("model", "output/data"), names, strict=True):
                workspace.archive(relpath, str(staging / name))
            uploads = [s3.Upload(staging / name, url.bucket, url.child(name).key) for name in names]
            s3.transfer(self._s3(), uploads=uploads)
        finally:
            for name in names:
                (staging / name).unlink(missing_ok=True)
        return str(url.child("model.tar.gz"))

    # -- Pipe mode ------------------------------------------------------------------------------
    def _feeder(self, channel: ChannelSpec, workspace: Workspace, first_epoch: int) -> PipeFeeder:
        objects = (self._s3_pipe_objects(channel) if channel.is_s3
                   else self._file_pipe_objects(channel))
        if not objects:
            what = "S3 objects" if channel.is_s3 else "files"
            raise ChannelError(f"channel {channel.name!r}: no {what} found under {channel.uri}")
        hosts, index = len(self.hosts), self.host_index

        def epoch_objects(epoch: int) -> list[PipeObject]:
            return [obj for _, obj in host_share(channel, objects, index, hosts, epoch,
                                                 key=lambda o: o[0])]

        return PipeFeeder(workspace, channel.name, epoch_objects,
                          gzip=channel.compression == "Gzip",
                          record_io=channel.record_wrapper == "RecordIO", first_epoch=first_epoch,
                          on_error=self._on_error)

    def _s3_pipe_objects(self, channel: ChannelSpec) -> list[tuple[str, PipeObject]]:
        """Every object of the channel (every host's), with the key it is ordered by."""
        client = self._s3()
        url = parse_s3_url(channel.uri)
        if channel.data_type == "ManifestFile":
            prefix, entries = parse_manifest(s3.read_object(client, url.bucket, url.key),
                                             channel.name, str(url))
            keys = [(p.bucket, p.key) for p in plan_manifest(channel.name, prefix, entries)]
        elif channel.data_type == "S3Prefix":
            keys = [(url.bucket, o.key) for o in s3.list_objects(client, url)]
        else:
            raise ChannelError(f"channel {channel.name!r}: S3DataType {channel.data_type} is not "
                               "supported locally in Pipe mode")
        return [(f"{bucket}/{key}", _s3_object(client, bucket, key)) for bucket, key in keys]

    def _file_pipe_objects(self, channel: ChannelSpec) -> list[tuple[str, PipeObject]]:
        """The channel's regular files, each opened afresh every epoch without following a
        link (one swapped in meanwhile fails the job, naming the channel and the file)."""
        found = self._scan_file_channel(channel)
        return [(rel, _file_object(found.root, src)) for rel, src in found.files.items()]


def _s3_object(client: Any, bucket: str, key: str) -> PipeObject:
    return lambda: s3.stream_object(client, bucket, key, CHUNK)


def _file_object(root: Path, relpath: str) -> PipeObject:
    return lambda: safe_files.read_chunks(root, relpath, CHUNK)

