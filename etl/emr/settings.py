"""The env config as the shipping commands need it: on the machine that submits, not the cluster.

`etl emr-step --env emr` on a laptop needs the emr section, not the lake: ${ETL_BUCKET} in
lake_root is for the cluster's run. So the env is loaded leniently (an unset ${VAR} is noted, not an
error) and only the settings a command actually uses must be complete.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from etl.config import ConfigDir
from etl.config.models import EnvConfig
from etl.errors import ConfigError


@dataclass(frozen=True)
class ShippingEnv:
    env: EnvConfig
    unset: list[str] = field(default_factory=list)  # "conf/env/emr.yaml: emr.artifacts needs $ETL_BUCKET"

    def setting(self, key: str, flag: str | None, value: str | None) -> str | None:
        """The flag if given, else the config's value of dotted `key`, which must not use an unset ${VAR}."""
        if flag:
            return flag
        for note in self.unset:
            shown_as, _, rest = note.partition(": ")
            if rest.startswith(f"{key} needs $"):
                raise ConfigError(f"{shown_as}: {key}: environment variable {rest.rpartition('$')[2]} is not set")
        return value

    def require(self, flags: dict[str, str | None]) -> EnvConfig:
        """The env, once each dotted key of `flags` that its flag does not override is known not to use an unset ${VAR}."""
        for key, flag in flags.items():
            self.setting(key, flag, None)
        return self.env


def shipping_env(conf: ConfigDir, name: str) -> ShippingEnv:
    unset: list[str] = []
    env = ConfigDir(conf.root, conf.environ, unset).env(name)
    return ShippingEnv(env, unset)
