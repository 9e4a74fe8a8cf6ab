"""Teaching aids for the notebooks: figures (:mod:`~masa_lite.teach.plots`,
:mod:`~masa_lite.teach.plots_meta`, :mod:`~masa_lite.teach.plots_efficient`,
:mod:`~masa_lite.teach.plot_kit`), interactive views (:mod:`~masa_lite.teach.widgets`) and the
checkers of the exercises (:mod:`~masa_lite.teach.exercises`).
"""
