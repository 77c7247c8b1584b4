"""The joint layout-and-loop auto-tuner (simulated annealing with a gradient-boosted cost model).

Empty until the tuner lands; the package exists so that the layout of the project is fixed.
"""
