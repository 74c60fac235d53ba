"""ROS 2 bags in and out (rosbag2 directories or single ``.mcap`` / ``.db3`` files), with ``rosbags``.

The only module that reads or writes bags. ``rosbags`` (pure Python) does the storage (MCAP and
sqlite3, rosbag2 metadata) and the message definitions / type hashes; the messages themselves are
the project's rclpy classes, (de)serialised to CDR by ``rclpy.serialization``, so a cloud read from
a bag goes through the same :func:`~dex1b_ros.ros.conversions.pointcloud2_to_xyz` as a cloud the
node receives. Custom types (``dex1b_msgs/msg/Grasp``, ``GraspArray``) are registered in the
typestore from the package's own ``.msg`` files (:func:`dex1b_msgs_dir`).

Errors: everything that can go wrong with a bag (missing, not a bag, empty, truncated, topic
absent or of another type, a message that does not deserialise) raises :class:`BagError` whose
message names the file (and the topic / message index where there is one).

    with BagWriter("out/b", storage="mcap") as w:
        w.write("/object_cloud", cloud_msg, t_ns)
    for m in read_messages("out/b", "/object_cloud", PointCloud2):
        m.index, m.time_ns, m.msg
"""
from __future__ import annotations

import functools
import os
import shutil
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from rclpy.serialization import deserialize_message, serialize_message

#: storage formats a bag can be written in (rosbag2 ``storage_identifier``)
STORAGES = ("mcap", "sqlite3")
#: rosbag2 metadata version written (8: the one ROS 2 Jazzy writes)
BAG_VERSION = 8


class BagError(Exception):
    """A bag cannot be read or written as asked; the message names the file (and topic)."""


# ------------------------------------------------------------------------------------ types
def msgtype_name(msg_or_cls) -> str:
    """``pkg/msg/Name`` of an rclpy message (instance or class), e.g. ``sensor_msgs/msg/PointCloud2``."""
    cls = msg_or_cls if isinstance(msg_or_cls, type) else type(msg_or_cls)
    pkg = cls.__module__.split(".")[0]
    return f"{pkg}/msg/{cls.__name__}"


def dex1b_msgs_dir() -> Path:
    """The folder holding ``Grasp.msg`` and ``GraspArray.msg``: the installed package's
    ``share/dex1b_msgs/msg`` (ament index, then ``sys.prefix``), else the checkout's ``dex1b_msgs/msg``."""
    cands = []
    try:
        from ament_index_python.packages import get_package_share_directory
        cands.append(Path(get_package_share_directory("dex1b_msgs", print_warning=False)) / "msg")
    except Exception:  # noqa: BLE001 - no ament index: try the other places
        pass
    cands += [Path(sys.prefix) / "share" / "dex1b_msgs" / "msg",
              Path(__file__).resolve().parents[2] / "dex1b_msgs" / "msg"]
    for c in cands:
        if (c / "GraspArray.msg").is_file():
            return c
    raise FileNotFoundError("dex1b_msgs message definitions (GraspArray.msg) not found in: "
                            + ", ".join(str(c) for c in cands))


@functools.lru_cache(maxsize=1)
def typestore():
    """rosbags typestore of ROS 2 Jazzy plus the ``dex1b_msgs`` messages (from their .msg files)."""
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    store = get_typestore(Stores.ROS2_JAZZY)
    d = dex1b_msgs_dir()
    types = {}
    for f in sorted(d.glob("*.msg")):
        types.update(get_types_from_msg(f.read_text(), f"dex1b_msgs/msg/{f.stem}"))
    store.register(types)
    return store


# ------------------------------------------------------------------------------------ reading
def storage_of(path: str | os.PathLike) -> str:
    """``mcap`` or ``sqlite3``: the storage of a bag (directory with metadata.yaml, .mcap or .db3 file)."""
    p = Path(path)
    if p.is_file():
        return {".mcap": "mcap", ".db3": "sqlite3"}.get(p.suffix, "")
    files = list(p.glob("*.mcap")) + list(p.glob("*.db3")) if p.is_dir() else []
    if any(f.suffix == ".mcap" for f in files):
        return "mcap"
    return "sqlite3" if files else ""


@dataclass
class TopicInfo:
    name: str
    msgtype: str     # pkg/msg/Name
    count: int       # messages in the bag


@dataclass
class BagMessage:
    index: int       # position among the topic's messages in the bag, from 0
    time_ns: int     # the bag's record time, ns since the epoch
    msg: object      # the deserialised rclpy message
    raw: bytes       # its CDR bytes as stored


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise BagError(f"{path}: no such bag (expected a rosbag2 directory with metadata.yaml, "
                       "or a .mcap / .db3 file)")
    if path.is_dir() and not (path / "metadata.yaml").is_file():
        files = sorted(p.name for p in path.iterdir())[:8]
        raise BagError(f"{path}: not a rosbag2 bag: the directory has no metadata.yaml "
                       f"(it holds: {', '.join(files) or 'nothing'})")
    if path.is_file() and path.suffix not in (".mcap", ".db3"):
        raise BagError(f"{path}: not a bag: expected a rosbag2 directory, a .mcap or a .db3 file")


class _Open:
    """A rosbags Reader whose errors (on open and while reading) become BagError naming the file."""

    def __init__(self, path: str | os.PathLike):
        from rosbags.rosbag2 import Reader

        self.path = Path(path)
        _check_exists(self.path)
        try:
            self.reader = Reader(self.path)
            self.reader.open()
        except Exception as e:  # noqa: BLE001 - rosbags/apsw/mcap raise many kinds on a bad file
            raise BagError(f"{self.path}: cannot open the bag (malformed or truncated?): "
                           f"{type(e).__name__}: {e}") from None

    def __enter__(self):
        return self.reader

    def __exit__(self, *exc):
        try:
            self.reader.close()
        except Exception:  # noqa: BLE001 - closing a broken bag must not hide the first error
            pass
        return False


def list_topics(path: str | os.PathLike) -> list[TopicInfo]:
    """Every topic of a bag with its type and message count. Raises BagError."""
    with _Open(path) as r:
        return [TopicInfo(t, info.msgtype or "", int(info.msgcount)) for t, info in sorted(r.topics.items())]


def describe_topics(topics: list[TopicInfo]) -> str:
    return "; ".join(f"{t.name} ({t.msgtype}, {t.count} msgs)" for t in topics) or "none"


def _norm(topic: str) -> str:
    return "/" + topic.lstrip("/")


def read_messages(path: str | os.PathLike, topic: str, msg_cls, indices: Iterable[int] | None = None
                  ) -> Iterator[BagMessage]:
    """The messages of ``topic`` (a leading '/' optional) in record order, deserialised into
    ``msg_cls`` (an rclpy message class), optionally only those at ``indices`` (positions among
    the topic's messages, from 0; negative counts from the end).

    Raises BagError (naming the file and topic) for: a missing or malformed bag, a bag without
    messages, a bag without ``topic`` (listing the topics it has, with their types), a topic of
    another type than ``msg_cls``, an index out of range, and a message that does not deserialise.
    """
    path = Path(path)
    want = msgtype_name(msg_cls)
    with _Open(path) as r:
        topics = [TopicInfo(t, info.msgtype or "", int(info.msgcount)) for t, info in sorted(r.topics.items())]
        if r.message_count == 0:
            raise BagError(f"{path}: the bag is empty (no messages; topics: {describe_topics(topics)})")
        match = [t for t in topics if _norm(t.name) == _norm(topic)]
        if not match:
            raise BagError(f"{path}: no topic {topic!r} in the bag; it has: {describe_topics(topics)}")
        info = match[0]
        if info.msgtype != want:
            raise BagError(f"{path}: topic {info.name!r} has type {info.msgtype}, expected {want}")
        n = info.count
        if n == 0:
            raise BagError(f"{path}: topic {info.name!r} has no messages")
        chosen = None
        if indices is not None:
            chosen = set()
            for i in indices:
                if not -n <= int(i) < n:
                    raise BagError(f"{path}: topic {info.name!r} has {n} messages; index {i} is out of range")
                chosen.add(int(i) % n)
        conns = [c for c in r.connections if c.topic == info.name]
        it = r.messages(connections=conns)
        i = -1
        while True:
            try:
                item = next(it)
            except StopIteration:
                break
            except Exception as e:  # noqa: BLE001 - a truncated/corrupt chunk or database page
                raise BagError(f"{path}: topic {info.name!r}: cannot read message {i + 1} (malformed or "
                               f"truncated bag?): {type(e).__name__}: {e}") from None
            i += 1
            if chosen is not None and i not in chosen:
                continue
            _, t_ns, data = item
            raw = bytes(data)
            try:
                msg = deserialize_message(raw, msg_cls)
            except Exception as e:  # noqa: BLE001 - rclpy raises RMWError / RuntimeError
                raise BagError(f"{path}: topic {info.name!r}: message {i} is not a valid {want} "
                               f"({len(raw)} bytes): {e}") from None
            yield BagMessage(i, int(t_ns), msg, raw)
            if chosen is not None and i >= max(chosen):
                break
        if i + 1 < n and (chosen is None or max(chosen) > i):
            raise BagError(f"{path}: topic {info.name!r}: the metadata says {n} messages but only {i + 1} "
                           "could be read (truncated bag?)")


# ------------------------------------------------------------------------------------ writing
class BagWriter:
    """A new rosbag2 bag (a directory) in ``storage`` mcap | sqlite3; connections are added on
    first use of a topic. ``overwrite``: replace an existing bag at ``path`` (only a directory
    holding a metadata.yaml is ever removed). Thread-safe writes (the demo records from executor
    threads). Use as a context manager, or call :meth:`close`."""

    def __init__(self, path: str | os.PathLike, storage: str = "mcap", overwrite: bool = False):
        import threading

        from rosbags.rosbag2 import StoragePlugin, Writer

        self.path = Path(path)
        if storage not in STORAGES:
            raise BagError(f"{self.path}: storage must be one of {', '.join(STORAGES)}, got {storage!r}")
        if self.path.exists():
            if overwrite and self.path.is_dir() and (self.path / "metadata.yaml").is_file():
                shutil.rmtree(self.path)
            else:
                raise BagError(f"{self.path}: exists already" + ("" if overwrite else " (not overwriting)")
                               + ("; it is not a bag, so it is left alone" if overwrite else ""))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
        self.storage = storage
        self._w = Writer(self.path, version=BAG_VERSION, storage_plugin=plugin)
        self._w.open()
        self._conns: dict[str, object] = {}
        self._lock = threading.Lock()
        self.counts: dict[str, int] = {}

    def _conn(self, topic: str, msgtype: str):
        c = self._conns.get(topic)
        if c is None:
            c = self._w.add_connection(topic, msgtype, typestore=typestore())
            self._conns[topic] = c
        elif c.msgtype != msgtype:
            raise BagError(f"{self.path}: topic {topic!r} is {c.msgtype}; cannot also write {msgtype}")
        return c

    def write_raw(self, topic: str, msgtype: str, data: bytes, time_ns: int) -> None:
        """CDR bytes of a ``msgtype`` (pkg/msg/Name) message, recorded at ``time_ns`` (ns since the epoch)."""
        topic = _norm(topic)
        with self._lock:
            if self._w is None:
                raise BagError(f"{self.path}: the bag is closed; cannot write to {topic!r}")
            self._w.write(self._conn(topic, msgtype), int(time_ns), data)
            self.counts[topic] = self.counts.get(topic, 0) + 1

    def write(self, topic: str, msg, time_ns: int) -> None:
        """An rclpy message, serialised to CDR."""
        self.write_raw(topic, msgtype_name(msg), serialize_message(msg), time_ns)

    def close(self) -> None:
        with self._lock:
            if self._w is not None:
                self._w.close()
                self._w = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


class BagRecorder:
    """Records topics of a running ROS 2 graph into a :class:`BagWriter`: one raw (CDR bytes, not
    deserialised) reliable subscription per topic on ``node``, each message written at its receive
    time (``node``'s clock, ns). ``topics``: {topic name: rclpy message class}; relative names are
    resolved in the node's namespace. ``writer.counts`` says what was recorded."""

    def __init__(self, node, writer: BagWriter, topics: dict[str, type], depth: int = 50):
        from rclpy.qos import QoSProfile, ReliabilityPolicy

        self.node, self.writer = node, writer
        qos = QoSProfile(depth=depth, reliability=ReliabilityPolicy.RELIABLE)
        self.subscriptions = [node.create_subscription(cls, name, self._callback(name, cls), qos, raw=True)
                              for name, cls in topics.items()]

    def _callback(self, name: str, cls):
        msgtype = msgtype_name(cls)
        fqn = self.node.resolve_topic_name(name) if hasattr(self.node, "resolve_topic_name") else _norm(name)

        def on_message(data: bytes) -> None:
            try:
                self.writer.write_raw(fqn, msgtype, data, self.node.get_clock().now().nanoseconds)
            except BagError:   # a message arriving after close() is dropped
                pass
        return on_message


def stamp_ns(stamp) -> int:
    """builtin_interfaces/Time -> ns."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


__all__ = ["BAG_VERSION", "BagError", "BagMessage", "BagRecorder", "BagWriter", "STORAGES", "TopicInfo",
           "describe_topics", "dex1b_msgs_dir", "list_topics", "msgtype_name", "read_messages", "stamp_ns",
           "storage_of", "typestore"]
