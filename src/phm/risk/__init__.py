"""Emergency admission risk stratification: train, judge and score (issue 5).

`train(store, index_date=..., truth=...)` fits a calibrated gradient boosting
model with a temporal design and writes its model card; `score(store)` gives
every person of the person table a risk score, tier and explanation.
"""

from phm.risk.model import RiskError, TrainedModel, load
from phm.risk.score import score
from phm.risk.train import train

__all__ = ["RiskError", "TrainedModel", "load", "score", "train"]
