"""A seeded whole-system simulation of Coinhall (issue #15): ``python -m sim --seed S --ops N``.

One ``random.Random(seed)`` makes every choice (operation, user, amount, fault) and
the app's clock (``chalicelib.core.ids.clock``) only moves when the simulator moves it,
so a seed and an operation count replay a run exactly.
"""
