"""Cost models: predict a candidate's normalized throughput from its features.

`GBTModel` is scikit-learn's HistGradientBoostingRegressor, retrained on everything measured so
far; `RandomModel` predicts noise (for ablations). Saving stores the training data (npz, no
pickle) and loading refits, so a model file can never run code.
"""
import sys
import threading

import numpy as np

from alt.errors import OptionError

_IMPORT = "sklearn.ensemble"
_preloading = None


def preload():
    """Start importing scikit-learn (about a second, most of it scipy.stats) on a background
    thread, once a process; returns a function that waits for it to end. A tuner starts it before
    its first builds, which leave its own process idle, and waits for it before the first
    candidate is timed: the import never shares the CPU with a timing. The model's own import
    then finds the module loaded, or waits on the import lock for the thread to finish it."""
    global _preloading
    if _IMPORT in sys.modules:
        return lambda: None
    if _preloading is None:
        _preloading = threading.Thread(target=_import, name="alt-preload-sklearn", daemon=True)
        _preloading.start()
    return _preloading.join


def _import():
    try:
        __import__(_IMPORT)
    except Exception:  # noqa: BLE001 - the model imports it again, and reports what went wrong
        pass


class CostModel:
    def fit(self, X, y):
        raise NotImplementedError

    def predict(self, X):
        raise NotImplementedError

    def trained(self):
        """Does the model predict something better than no preference?"""
        return False


class RandomModel(CostModel):
    def __init__(self, rng):
        self.rng = rng

    def fit(self, X, y):
        return self

    def predict(self, X):
        return self.rng.random(len(X))


TARGETS = ("share", "log")  # what GBTModel is fitted to: throughput / best seen, or its logarithm
DEFAULT_TARGET = "log"  # 5 seeds x 64 trials, no hand seeds, R18-8, GMM-1 and C1D-0 on an AMD EPYC (Zen 3):
# trials to reach random guidance's best 30.6 (geomean) fitted to log throughput, >= 52.8 fitted to the share
PRIOR_TARGET = "share"  # with a prior (transfer) the residual model overrules a misleading prior sooner fitted to
# the share: in test_transfer's case, rank correlation 0.70 after 8 measurements against 0.48 fitted to the log
LOG_FLOOR = 0.01  # the least share the log target counts (a failed candidate's 0 would be -inf)
FEATURE_SHARE = 0.3  # the share of the features each split of a tree may choose from (scikit-learn's max_features).
# Fitted to the first 16, 32 and 48 trials of 60-75 logged runs each of R18-8, GMM-1 and C1D-0 on an AMD EPYC (Zen 3),
# the rank correlation of the prediction with the points the run did not measure rose from 0.22-0.53 with every
# feature to 0.29-0.57 (experiments.model_quality): the 70 features hold near-copies (bytes touched at each level),
# and with all of them to choose from every split took the copy that fitted its few points best by chance. The best
# of the 8 top picks moved less (0.80-0.92 of the best held-out point either way; 8 random picks 0.81-0.84), and a
# 5-seed ablation found the searches level (trials to match >= 59.7 against >= 64 with every feature)
SPLIT_FEATURES = 8  # but a split chooses among at least this many (all of fewer): with a handful of features there
# are no near-copies to spread over, and a split that may see one or two of them mostly sees the wrong ones


def training_target(share, target="share"):
    """Throughputs normalized to the best seen (`share`, 1.0 = best, 0 = failed) as fitted by a
    GBTModel of `target`: unchanged, or their logarithm floored at LOG_FLOOR. The log target spends
    the trees' splits on ratios (a point at half the best is as far below it as one at a quarter is
    below that), where the share target lumps every slow point near 0; both are 0 at the best."""
    share = np.asarray(share, float)
    if target == "share":
        return share
    return np.log(np.maximum(share, LOG_FLOOR))


class GBTModel(CostModel):
    """Gradient-boosted trees on the logarithm of throughput normalized to the best seen (0 = best;
    with `target="share"`, on the normalized throughput itself, 1.0 = best; see `training_target`).
    Without a `target`: the log (DEFAULT_TARGET), or the share where a prior is given (PRIOR_TARGET).
    `features`: the share of the features each split may choose from (FEATURE_SHARE; 1.0, all), and
    never fewer than SPLIT_FEATURES of them.

    `prior` (X, y), other workloads' features and throughputs each normalized to their own best
    (search.transfer), warm-starts the model the way AutoTVM's transfer learning does: a model of
    the prior alone predicts until this workload has `min_samples` measurements; from then on a
    second model, fitted to this workload's measurements only, corrects what the prior's model
    gets wrong (their residuals), and the prediction is the sum. So the prior ranks the first
    proposals, and a prior that misleads (the workloads it came from favour a Winograd algorithm
    that is slow on this shape) is overruled as soon as this workload's own data says so. (Mixed
    into one training set, a few measurements of this workload were fitted as exceptions and the
    prior's trend kept ranking every new point.)"""

    def __init__(self, seed=0, min_samples=8, prior=None, target=None, features=FEATURE_SHARE):
        prior = prior if prior is not None and len(prior[1]) else None
        target = target or (DEFAULT_TARGET if prior is None else PRIOR_TARGET)
        if target not in TARGETS:
            raise OptionError(f"GBTModel target={target!r}: use one of {list(TARGETS)}")
        if isinstance(features, bool) or not (isinstance(features, (int, float)) and 0 < features <= 1):
            raise OptionError(f"GBTModel features={features!r}: give the share of features a split may use, "
                              f"above 0 and at most 1")
        self.seed, self.min_samples, self.target, self.features = seed, min_samples, target, float(features)
        self.X, self.y = np.zeros((0, 0)), np.zeros(0)
        self.prior = prior
        self._model = None
        self._base = None
        if self.prior is not None:
            X, y = self.prior
            self._base = self._regressor(np.shape(X)[1]).fit(X, training_target(y, target))

    def _regressor(self, n_features):
        from sklearn.ensemble import HistGradientBoostingRegressor
        share = max(self.features, min(1.0, SPLIT_FEATURES / max(1, n_features)))
        return HistGradientBoostingRegressor(max_iter=100, learning_rate=0.1, max_leaf_nodes=15, min_samples_leaf=2,
                                             max_features=share, random_state=self.seed)

    def fit(self, X, y):
        self.X, self.y = np.asarray(X, float), np.asarray(y, float)
        own = len(self.y) >= 1 and self.y.max() > 0
        if len(self.y) < self.min_samples or not own:
            self._model = None
            return self
        target = training_target(self.y / self.y.max(), self.target)
        if self._base is not None:  # this workload's data fits what the prior's model gets wrong
            target = target - self._base.predict(self.X)
        self._model = self._regressor(self.X.shape[1]).fit(self.X, target)
        return self

    def trained(self):
        return self._model is not None or self._base is not None

    def predict(self, X):
        X = np.asarray(X, float)
        base = self._base.predict(X) if self._base is not None else np.zeros(len(X))
        if self._model is None:  # too little data of this workload: the prior's ranking, or none
            return base
        return base + self._model.predict(X)

    def save(self, path):
        np.savez(path, X=self.X, y=self.y, seed=self.seed, min_samples=self.min_samples, target=self.target,
                 features=self.features)

    @classmethod
    def load(cls, path):
        with np.load(path, allow_pickle=False) as d:
            target = str(d["target"]) if "target" in d else "share"  # a file from before the log target
            features = float(d["features"]) if "features" in d else 1.0  # a file from before FEATURE_SHARE
            m = cls(int(d["seed"]), int(d["min_samples"]), target=target, features=features)
            return m.fit(d["X"], d["y"])
