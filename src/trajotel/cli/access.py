"""How CLI commands reach the data: through a running collector that holds the store, or by
opening the store directly when none runs (or when it is a ClickHouse server)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Protocol

from trajotel.assemble.model import Trajectory
from trajotel.collector.service import read_advert
from trajotel.config import Config
from trajotel.errors import NotFoundError, StoreError, TrajotelError
from trajotel.store import Store
from trajotel.store.trajectories import list_trajectories, read_trajectory


class DataAccess(Protocol):
    where: str

    def query_raw(self, sql: str, fmt: str) -> bytes: ...
    def list_trajectories(self, limit: int) -> list[dict[str, Any]]: ...
    def trajectory(self, trajectory_id: str) -> Trajectory: ...
    def close(self) -> None: ...


class CollectorAccess:
    def __init__(self, host: str, port: int, timeout_s: float = 60.0) -> None:
        self.base = f"http://{host}:{port}"
        self.where = f"the running collector at {self.base}"
        self.timeout_s = timeout_s

    def _call(self, method: str, path: str, body: dict | None = None) -> bytes:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.base + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return response.read()
        except urllib.error.HTTPError as exc:
            try:
                detail = json.loads(exc.read())
            except ValueError:
                detail = {}
            message = detail.get("error") or f"HTTP {exc.code} from {self.where}"
            error = NotFoundError if exc.code == 404 else StoreError
            raise error(message, hint=detail.get("hint")) from None
        except (urllib.error.URLError, OSError) as exc:
            raise StoreError(
                f"cannot reach {self.where}: {exc}", hint="is the collector still running? check its log"
            ) from None

    def query_raw(self, sql: str, fmt: str) -> bytes:
        return self._call("POST", "/v1/query", {"sql": sql, "format": fmt})

    def list_trajectories(self, limit: int) -> list[dict[str, Any]]:
        return json.loads(self._call("GET", f"/v1/trajectories?limit={limit}"))

    def trajectory(self, trajectory_id: str) -> Trajectory:
        quoted = urllib.parse.quote(trajectory_id)
        return Trajectory.from_dict(json.loads(self._call("GET", f"/v1/trajectory?id={quoted}")))

    def close(self) -> None:
        pass


class StoreAccess:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.where = f"the store at {store.url.path or store.url.host}"

    def query_raw(self, sql: str, fmt: str) -> bytes:
        return self.store.query_raw(sql, fmt)

    def list_trajectories(self, limit: int) -> list[dict[str, Any]]:
        # Same JSON shapes as through the collector's API.
        return json.loads(json.dumps(list_trajectories(self.store, limit=limit), default=str))

    def trajectory(self, trajectory_id: str) -> Trajectory:
        found = read_trajectory(self.store, trajectory_id)
        if found is None:
            raise NotFoundError(
                f"no trajectory {trajectory_id!r} in {self.where}",
                hint="list them with `trajotel trajectories list`",
            )
        return found

    def close(self) -> None:
        self.store.close()


def open_access(config: Config) -> DataAccess:
    advert = read_advert(config.data_dir)
    if advert is not None:
        return CollectorAccess(advert.get("host", "127.0.0.1"), int(advert["http_port"]))
    if not (config.data_dir / "clickhouse").exists() and not config.store.clickhouse:
        raise TrajotelError(
            f"no trajotel data in {config.data_dir}",
            hint="start `trajotel collector` first, or pass --data DIR / --clickhouse URL",
        )
    return StoreAccess(Store.open(config.clickhouse_url, config.store.database))
