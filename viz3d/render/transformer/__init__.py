"""Drawings of the transformer views (:mod:`viz3d.llm` computes, this package draws).

Each module turns one view's numbers into a :class:`~viz3d.render.Scene`: token activations
(:mod:`.activations`), attention arcs (:mod:`.attention`), projected embeddings
(:mod:`.embeddings`) and saliency bars (:mod:`.saliency`), on the shapes, labels and camera
poses of :mod:`.geometry`. ``viz3d.llm`` imports them only when a view is drawn, so computing
never loads PyVista.
"""
