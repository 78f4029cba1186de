"""Scale-out on Redis: workers on any machine crawl and analyse; one writer keeps the store and sends alerts.

``writer`` (``ClusterEngine``, the crawl engine of ``monitor serve --cluster``), ``worker``
(``monitor worker``), ``publisher`` (a worker engine's ledger, ``ResultPublisher``),
``messages`` (what the streams carry), ``bus`` (keys, signed messages, outages) and
``status`` (``monitor status --cluster``). Redis Streams with consumer groups are the
queue: no queue server of our own, and no second store.
"""

from monitor.cluster.bus import ClusterError
from monitor.cluster.publisher import ResultPublisher
from monitor.cluster.status import cluster_status
from monitor.cluster.worker import Worker
from monitor.cluster.writer import ClusterEngine

__all__ = ["ClusterEngine", "ClusterError", "ResultPublisher", "Worker", "cluster_status"]
