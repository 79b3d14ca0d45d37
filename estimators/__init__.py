"""estimators: a genome in, a score out (proxy training, zero-cost proxies, cost and measured latency).

Plain functions that a search worker calls once per candidate; data sets are loaded once per process.

>>> import nas, estimators
>>> estimators.hardware_metrics(nas.seed("resnet18"))["macs"]
1814073344
"""

from ._adapt import RESOLUTIONS, min_resolution, proxy_genome, scale_width
from .data import DATASETS, Dataset, load_data
from .hardware import hardware_metrics, latency
from .train import DEFAULTS, StopTrial, proxy_train
from .zerocost import ZERO_COST, zero_cost

__all__ = [
    "DATASETS", "DEFAULTS", "Dataset", "RESOLUTIONS", "StopTrial", "ZERO_COST", "hardware_metrics", "latency",
    "load_data", "min_resolution", "proxy_genome", "proxy_train", "scale_width", "zero_cost",
]
