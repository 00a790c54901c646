"""hmworld: the HM-World toolkit.

Dataset generation lives here (catalog, compositor, exit/entry events, renderers, captioners, split
writer/reader, CLI); the model, the metrics and the leaderboard are the subpackages `hmworld.model`,
`hmworld.metrics` and `hmworld.benchmark` (folders model/, metrics/, benchmark/ in the checkout).
"""
__version__ = "0.1.0"
