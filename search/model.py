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


class RandomModel(CostModel):
    def __init__(self, rng):
        self.rng = rng

    def fit(self, X, y):
        return self

    def predict(self, X):
        return self.rng.random(len(X))


class GBTModel(CostModel):
    """Gradient-boosted trees on throughput normalized to the best seen (1.0 = best)."""

    def __init__(self, seed=0, min_samples=8):
        self.seed, self.min_samples = seed, min_samples
        self.X, self.y = np.zeros((0, 0)), np.zeros(0)
        self._model = None

    def fit(self, X, y):
        from sklearn.ensemble import HistGradientBoostingRegressor
        self.X, self.y = np.asarray(X, float), np.asarray(y, float)
        if len(self.y) < self.min_samples or self.y.max() <= 0:
            self._model = None
            return self
        target = self.y / self.y.max()
        self._model = HistGradientBoostingRegressor(max_iter=100, learning_rate=0.1, max_leaf_nodes=15,
                                                    min_samples_leaf=2, random_state=self.seed)
        self._model.fit(self.X, target)
        return self

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
