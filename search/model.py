"""Cost models: predict a candidate's normalized throughput from its features.

`GBTModel` is scikit-learn's HistGradientBoostingRegressor, retrained on everything measured so
far; `RandomModel` predicts noise (for ablations). Saving stores the training data (npz, no
pickle) and loading refits, so a model file can never run code.
"""
import numpy as np


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


class GBTModel(CostModel):
    """Gradient-boosted trees on throughput normalized to the best seen (1.0 = best).

    `prior` (X, y), other workloads' features and throughputs each normalized to their own best
    (search.transfer), is trained on together with this workload's measurements: the model is
    useful before the first of them, and this workload's points weigh as much as the prior's
    half once there are a few."""

    def __init__(self, seed=0, min_samples=8, prior=None):
        self.seed, self.min_samples = seed, min_samples
        self.X, self.y = np.zeros((0, 0)), np.zeros(0)
        self.prior = prior if prior is not None and len(prior[1]) else None
        self._model = None
        if self.prior is not None:
            self.fit(np.zeros((0, self.prior[0].shape[1])), np.zeros(0))

    def fit(self, X, y):
        from sklearn.ensemble import HistGradientBoostingRegressor
        self.X, self.y = np.asarray(X, float), np.asarray(y, float)
        own = len(self.y) >= 1 and self.y.max() > 0
        target = self.y / self.y.max() if own else np.zeros(len(self.y))
        X_all, t_all, weight = self.X, target, np.ones(len(self.y))
        if self.prior is not None:
            Xp, yp = self.prior
            X_all, t_all = np.vstack([Xp, self.X.reshape(-1, Xp.shape[1])]), np.concatenate([yp, target])
            weight = np.concatenate([np.ones(len(yp)), np.full(len(self.y), max(1.0, len(yp) / 2 / max(1, len(self.y))))])
        elif len(self.y) < self.min_samples or not own:
            self._model = None
            return self
        self._model = HistGradientBoostingRegressor(max_iter=100, learning_rate=0.1, max_leaf_nodes=15,
                                                    min_samples_leaf=2, random_state=self.seed)
        self._model.fit(X_all, t_all, sample_weight=weight)
        return self

    def trained(self):
        return self._model is not None

    def predict(self, X):
        X = np.asarray(X, float)
        if self._model is None:  # too little data: no preference
            return np.zeros(len(X))
        return self._model.predict(X)

    def save(self, path):
        np.savez(path, X=self.X, y=self.y, seed=self.seed, min_samples=self.min_samples)

    @classmethod
    def load(cls, path):
        with np.load(path, allow_pickle=False) as d:
            m = cls(int(d["seed"]), int(d["min_samples"]))
            return m.fit(d["X"], d["y"])
