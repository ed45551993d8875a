"""The configuration layer: TOML + environment → frozen, validated structs; one-line errors.

Modules: ``errors`` (ConfigIssue, ConfigError), ``schema`` (the structs and value parsers), ``load``
(TOML and environment → ``Config``), ``describe`` (the resolved configuration in words), ``diff`` (what a
reload changes). The names below are the layer's public API.
"""

from vrrpd.config.describe import describe
from vrrpd.config.errors import ConfigError, ConfigIssue
from vrrpd.config.load import (
    ENV_ALLOWLIST,
    ENV_PREFIX,
    FROM_ENVIRONMENT,
    MAX_CONFIG_BYTES,
    MAX_NESTING,
    check_interfaces,
    check_programs,
    fields_of,
    from_dict,
    load_config,
    parse_config,
    to_dict,
)
from vrrpd.config.schema import (
    MAX_EXCLUDED,
    Config,
    GlobalConfig,
    HealthCheckConfig,
    InstanceConfig,
    ListenAddress,
    RouteConfig,
    RuleConfig,
    TrackScript,
    TrackWeighted,
    VipConfig,
    VrrpScriptConfig,
    VrrpTrackFileConfig,
    VrrpTrackProcessConfig,
)

__all__ = [
    "ENV_ALLOWLIST",
    "ENV_PREFIX",
    "FROM_ENVIRONMENT",
    "MAX_CONFIG_BYTES",
    "MAX_EXCLUDED",
    "MAX_NESTING",
    "Config",
    "ConfigError",
    "ConfigIssue",
    "GlobalConfig",
    "HealthCheckConfig",
    "InstanceConfig",
    "ListenAddress",
    "RouteConfig",
    "RuleConfig",
    "TrackScript",
    "TrackWeighted",
    "VipConfig",
    "VrrpScriptConfig",
    "VrrpTrackFileConfig",
    "VrrpTrackProcessConfig",
    "check_interfaces",
    "check_programs",
    "describe",
    "fields_of",
    "from_dict",
    "load_config",
    "parse_config",
    "to_dict",
]
