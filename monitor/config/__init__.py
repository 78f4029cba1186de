"""The configuration: ``rules.yaml`` loaded, validated strictly, and frozen.

What other packages use: ``load_config``/``parse_config`` (a file or text to a
``Config``, or ``ConfigError`` listing every problem as ``FILE:LINE: field: what``),
the model (``Config``, ``SourceSpec``, ``DestinationSpec``, ``CrawlSpec``,
``AlertsSpec``), durations (``parse_duration``, ``since``, ``DurationError``,
``parse_time_of_day``) and ``signing_key`` (a webhook secret's HMAC key). Inside:
``load`` (the file and the crawl and sources sections), ``rules`` and ``alerts``
(their sections), ``checker`` (line-numbered checks), ``yamlload`` (the fast loader).
"""

from monitor.config.alerts import signing_key
from monitor.config.durations import DurationError, parse_duration, parse_time_of_day, since
from monitor.config.load import load_config, parse_config
from monitor.config.model import (
    DELIVERY_MODES,
    DESTINATION_TYPES,
    SOURCE_TYPES,
    AlertsSpec,
    Config,
    CrawlSpec,
    DestinationSpec,
    SourceSpec,
)

__all__ = [
    "DELIVERY_MODES",
    "DESTINATION_TYPES",
    "SOURCE_TYPES",
    "AlertsSpec",
    "Config",
    "CrawlSpec",
    "DestinationSpec",
    "DurationError",
    "SourceSpec",
    "load_config",
    "parse_config",
    "parse_duration",
    "parse_time_of_day",
    "signing_key",
    "since",
]
