"""What a person reads about a result: posterior summaries labelled with the level names of the
data (`a_Batch[3]  (Batch = C)`), programs whose data declarations carry their levels."""

from boxloop.report.labels import annotate_program, level_labels

__all__ = ["level_labels", "annotate_program"]
